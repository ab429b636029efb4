"""gradcheck / gradgradcheck on float32 inputs: PyTorch's warning, word for word; a refusal
(ValueError) where eps is below what float32 resolves; a real check with a large eps."""

from __future__ import annotations

import warnings

import pytest

import chainrule as cr

from ._parity import torch
from .functions import functions

X = [1.0, 2.0, 3.0]


def _square(t):
    return (t * t).sum()


def _warnings_of(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as err:  # noqa: BLE001 (returned to the caller)
            result = err
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _torch_wording(check=torch.autograd.gradcheck, fn=_square):
    _, msgs = _warnings_of(lambda: check(fn, (torch.tensor(X, requires_grad=True),),
                                         eps=1e-2, atol=1e-2, rtol=1e-2))
    assert msgs, "PyTorch no longer warns for float32 inputs"
    return msgs[0].strip()


def test_float32_input_warns_with_pytorchs_words_and_refuses_a_tiny_eps():
    result, msgs = _warnings_of(
        lambda: cr.autograd.gradcheck(_square, (cr.tensor(X, requires_grad=True),)))
    assert isinstance(result, ValueError), result
    assert "eps" in str(result) and "float32" in str(result)
    assert any(_torch_wording() in m for m in msgs), msgs


@pytest.mark.parametrize("eps", [1e-6, 1e-5, 1e-4])
def test_eps_below_float32_resolution_is_refused(eps):
    with pytest.warns(UserWarning, match="double precision"), pytest.raises(ValueError):
        cr.autograd.gradcheck(_square, (cr.tensor(X, requires_grad=True),), eps=eps)


@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_a_large_eps_runs_the_check(eps):
    x = cr.tensor(X, requires_grad=True)
    with pytest.warns(UserWarning, match="double precision"):
        assert cr.autograd.gradcheck(_square, (x,), eps=eps, atol=1e-2, rtol=1e-2) is True
    assert x.tolist() == X  # the perturbations are undone


def test_a_large_eps_still_finds_a_wrong_gradient_as_pytorch():
    for L in (cr, torch):
        half_square = functions(L)["HalfSquare"].apply  # the backward forgets the factor 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = L.autograd.gradcheck(half_square, (L.tensor(X, requires_grad=True),),
                                      eps=1e-2, atol=1e-2, rtol=1e-2, raise_exception=False)
        assert ok is False, L.__name__
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError):
                L.autograd.gradcheck(half_square, (L.tensor(X, requires_grad=True),),
                                     eps=1e-2, atol=1e-2, rtol=1e-2)


def test_float64_inputs_do_not_warn():
    for L in (cr, torch):
        result, msgs = _warnings_of(
            lambda: L.autograd.gradcheck(_square, (L.tensor(X, dtype=L.float64,
                                                            requires_grad=True),)))
        assert result is True and msgs == [], (L.__name__, result, msgs)


def test_a_float32_input_that_does_not_require_grad_does_not_warn():
    for L in (cr, torch):
        def fn(a, b):
            return (a * b).sum()

        result, msgs = _warnings_of(lambda: L.autograd.gradcheck(
            fn, (L.tensor(X, dtype=L.float64, requires_grad=True), L.tensor(X))))
        assert result is True and msgs == [], (L.__name__, result, msgs)


def test_the_warning_names_the_float32_input_by_position():
    x64 = cr.tensor(X, dtype=cr.float64, requires_grad=True)
    x32 = cr.tensor(X, requires_grad=True)
    _, msgs = _warnings_of(lambda: cr.autograd.gradcheck(lambda a, b: (a * b).sum(), (x64, x32),
                                                         eps=1e-2, atol=1e-2, rtol=1e-2))
    assert len(msgs) == 1 and "Input #1 requires gradient" in msgs[0], msgs


def test_the_warning_points_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cr.autograd.gradcheck(_square, (cr.tensor(X, requires_grad=True),), eps=1e-2,
                              atol=1e-2, rtol=1e-2)
    assert caught and caught[0].filename == __file__


def test_gradgradcheck_warns_and_refuses_the_same_way():
    cube = lambda t: (t * t * t).sum()  # noqa: E731
    result, msgs = _warnings_of(
        lambda: cr.autograd.gradgradcheck(cube, (cr.tensor(X, requires_grad=True),)))
    assert isinstance(result, ValueError), result
    assert any(_torch_wording(torch.autograd.gradgradcheck, cube) in m for m in msgs), msgs
    with pytest.warns(UserWarning, match="double precision"):
        assert cr.autograd.gradgradcheck(cube, (cr.tensor(X, requires_grad=True),), eps=1e-2,
                                         atol=5e-2, rtol=5e-2) is True
