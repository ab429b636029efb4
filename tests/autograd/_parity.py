"""Helpers for the tests that run the same code on chainrule and on PyTorch and compare.

``case(L)`` functions take the library (``cr`` or ``torch``) and use only the API both share, so
that one function is both the chainrule test and its PyTorch reference.
"""

from __future__ import annotations

import contextlib
import re
import signal

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

LIBS = (cr, torch)


def T(L, value, requires_grad=False, dtype=None):
    """``L.tensor(value, ...)``: float32 unless ``dtype`` says otherwise."""
    return L.tensor(value, requires_grad=requires_grad, dtype=dtype)


def to_numpy(x):
    """A chainrule or PyTorch tensor (or a number, bool, None) as something np.testing compares."""
    if isinstance(x, cr.Tensor):
        return np.array(x.data)
    if isinstance(x, torch.Tensor):
        return x.detach().numpy().copy()
    return x


def assert_close(got, want, rtol=1e-5, atol=1e-6, path="result"):
    """Compare nested results (tuples, lists, dicts of tensors, numbers, bools, None)."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"{path}: got {type(got).__name__}, want a sequence"
        assert len(got) == len(want), f"{path}: {len(got)} items, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, rtol, atol, f"{path}[{i}]")
        return
    if isinstance(want, dict):
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_close(got[k], want[k], rtol, atol, f"{path}[{k!r}]")
        return
    g, w = to_numpy(got), to_numpy(want)
    if w is None or isinstance(w, (bool, str)):
        assert g == w, f"{path}: chainrule {g!r}, PyTorch {w!r}"
        return
    g, w = np.asarray(g), np.asarray(w)
    assert g.shape == w.shape, f"{path}: shape {g.shape}, PyTorch {w.shape}"
    np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=path)


def assert_same(case, rtol=1e-5, atol=1e-6):
    """Run ``case`` on both libraries; their results must agree. Returns chainrule's."""
    want = case(torch)
    got = case(cr)
    assert_close(got, want, rtol, atol)
    return got


def assert_raises_like_torch(case, exc=RuntimeError, match=None):
    """``case`` raises ``exc`` on PyTorch (checked), and on chainrule too; returns both messages."""
    with pytest.raises(exc) as te:
        case(torch)
    if match is not None:
        assert re.search(match, str(te.value)), f"PyTorch's message changed: {te.value}"
    with pytest.raises(exc, match=match) as ce:
        case(cr)
    return str(ce.value), str(te.value)


_VERSIONS = re.compile(r"is at version (\d+); expected version (\d+) instead")
_SHAPE = re.compile(r"\[[\w.]+ \[([\d, ]*)\]\]")


def assert_version_error_like_torch(case, op=None, check_shape=True):
    """``case`` ends in a backward that must raise PyTorch's "modified by an inplace operation"
    error: a RuntimeError giving the tensor's shape and the same (actual, expected) versions as
    PyTorch's message, and (chainrule's addition) naming the op whose saved value changed."""
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as te:
        case(torch)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as ce:
        case(cr)
    tmsg, cmsg = str(te.value), str(ce.value)
    tv, cv = _VERSIONS.search(tmsg), _VERSIONS.search(cmsg)
    assert cv is not None, f"no versions in chainrule's message: {cmsg}"
    assert cv.groups() == tv.groups(), (
        f"versions (actual, expected): chainrule {cv.groups()}, PyTorch {tv.groups()}\n"
        f"  chainrule: {cmsg}\n  PyTorch:   {tmsg}")
    if check_shape:
        ts, cs = _SHAPE.search(tmsg), _SHAPE.search(cmsg)
        assert cs is not None, f"no tensor shape in chainrule's message: {cmsg}"
        assert cs.group(1) == ts.group(1), f"shape: chainrule [{cs.group(1)}], PyTorch [{ts.group(1)}]"
    if op is not None:
        assert op in cmsg, f"the message does not name {op}: {cmsg}"
    return cmsg, tmsg


class Hang(Exception):
    """The code under test ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise ``Hang`` in the main thread if the block runs longer than ``seconds`` (a backward
    that loops forever fails its test instead of hanging the suite)."""
    def on_alarm(*_):
        raise Hang(f"still running after {seconds} s (an infinite loop?)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
