"""W7 (LSTM) and W8 (Transformer encoder) of benchmarks/: chainrule and PyTorch compute the same
first step and the same few SGD steps from the same weights and tokens. No timing here."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from workloads import WORKLOADS, initial_weights, make_impl  # noqa: E402
from workloads.sequence import SEQ, SYMBOLS, make_tokens  # noqa: E402

pytest.importorskip("torch")


def test_targets_are_the_previous_symbol():
    x, y = make_tokens(3, seed=0)
    assert x.shape == y.shape == (3, SEQ) and x.dtype == np.int64
    assert (y[:, 1:] == x[:, :-1]).all() and (y[:, 0] == x[:, 0]).all()
    assert 0 <= x.min() and x.max() < SYMBOLS


@pytest.mark.parametrize("name", ["W7", "W8"])
def test_chainrule_and_torch_agree_on_steps(name):
    w = WORKLOADS[name]
    assert (w.batch, w.steps(False), w.numpy) == (32, 50, False)
    x, y = make_tokens(w.batch, seed=0)
    twice = np.concatenate([x, x]), np.concatenate([y, y])  # two steps on the same batch
    got = {}
    for lib in ("torch", "chainrule"):
        impl = make_impl(w, lib, initial_weights(w))
        loss, grads = impl.grads(x, y)
        impl.load(initial_weights(w))
        last = impl.loss_value(impl.train(impl.batches(*twice, w.batch)))
        got[lib] = loss, grads, last, impl.params()
    (l0, g0, last0, p0), (l1, g1, last1, p1) = got["torch"], got["chainrule"]
    assert l1 == pytest.approx(l0, rel=1e-5) and l0 == pytest.approx(np.log(SYMBOLS), rel=0.1)
    for a, b in zip(g1, g0, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert last1 == pytest.approx(last0, rel=1e-5) and last0 < l0  # it trained, identically
    for a, b in zip(p1, p0, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
