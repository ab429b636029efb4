"""Worked example 6: softmax(tanh(x·W0 + b0)·W1 + b1), squared loss against cross-entropy.

The gradient formulas are derived here independently (the softmax's Jacobian built row by row);
the training runs on generated data always, and on a subset of the real MNIST when it is found.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import DEMOS
from chainrule.examples import mnist_tanh_softmax as m

ROOT = Path(__file__).resolve().parents[2]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def autograd_logit_grad(loss_fn, z, y):
    zt = cr.tensor(z, requires_grad=True)
    loss = loss_fn(zt, cr.from_numpy(y))
    loss.backward()
    return loss.item(), zt.grad.data


def generated(n_train=1280, n_test=320, features=20, classes=10, seed=0):
    """Ten Gaussian clusters in 20 dimensions, pixel-like values in [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.random((classes, features))

    def draw(n):
        y = rng.integers(0, classes, n)
        x = np.clip(centres[y] + 0.15 * rng.standard_normal((n, features)), 0, 1)
        return x.astype(np.float32), y.astype(np.int64)

    return (*draw(n_train), *draw(n_test))


# -- what the math guarantees ---------------------------------------------------------------------

def test_squared_loss_gradient_is_p_minus_y_times_the_softmax_jacobian():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((7, 10)) * 3
    z[0, 4] = 12.0  # one saturated row
    y = rng.integers(0, 10, 7)
    n, c = z.shape
    p, onehot = softmax(z), np.eye(c)[y]
    expected = np.empty_like(z)
    for i in range(n):  # ∂L/∂z_i = (p_i − y_i) · J_i / N,  J_i = diag(p_i) − p_i p_iᵀ
        jacobian = np.diag(p[i]) - np.outer(p[i], p[i])
        expected[i] = (p[i] - onehot[i]) @ jacobian / n
    loss, grad = autograd_logit_grad(m.squared_loss, z, y)
    assert loss == pytest.approx(0.5 * np.sum((p - onehot) ** 2) / n, rel=1e-12)
    assert np.allclose(grad, expected, rtol=1e-10, atol=1e-15)
    pairs = m.logit_gradients(z, y)
    assert np.allclose(*pairs["squared"], rtol=1e-10, atol=1e-15)
    assert np.allclose(pairs["squared"][0], expected, rtol=1e-10, atol=1e-15)


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((9, 10)) * 3
    y = rng.integers(0, 10, 9)
    p, onehot = softmax(z), np.eye(10)[y]
    loss, grad = autograd_logit_grad(m.cross_entropy_loss, z, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(9), y])), rel=1e-12)
    assert np.allclose(grad, (p - onehot) / 9, rtol=1e-10, atol=1e-15)
    assert np.allclose(*m.logit_gradients(z, y)["cross_entropy"], rtol=1e-10, atol=1e-15)


def test_at_a_uniform_output_the_squared_gradient_is_a_tenth_of_cross_entropy():
    # p = 1/C: Σ_j p_j (p_j − y_j) = (1 − 1)/C = 0, so ∂L/∂z = p (p − y) = (p − y)/C
    z, y = np.zeros((5, 10)), np.array([0, 3, 3, 7, 9])
    _, sq = autograd_logit_grad(m.squared_loss, z, y)
    _, ce = autograd_logit_grad(m.cross_entropy_loss, z, y)
    assert np.allclose(sq, ce / 10, rtol=1e-12, atol=1e-16)


def test_a_saturated_wrong_output_stops_the_squared_loss_not_cross_entropy():
    previous = math.inf
    for gap in (2.0, 4.0, 8.0, 16.0):
        z = np.zeros((1, 10))
        z[0, 3] = gap  # confident in 3; the label is 7
        p7 = 1 / (math.exp(gap) + 9)
        _, sq = autograd_logit_grad(m.squared_loss, z, np.array([7]))
        _, ce = autograd_logit_grad(m.cross_entropy_loss, z, np.array([7]))
        assert abs(sq[0, 7]) <= 2 * p7  # p_7 · |(p_7 − 1) − Σ p_j (p_j − y_j)| ≤ 2 p_7
        assert abs(sq[0, 7]) < previous
        previous = abs(sq[0, 7])
        assert ce[0, 7] == pytest.approx(p7 - 1, rel=1e-12)
    assert previous < 1e-6 and ce[0, 7] < -0.999999


def test_logits_are_the_formula():
    rng = np.random.default_rng(5)
    params = m.init(12, 6, seed=2, dtype=np.float64)
    x = rng.random((4, 12))
    w0, b0, w1, b1 = params
    z = m.logits([cr.tensor(a) for a in params], cr.tensor(x))
    np.testing.assert_allclose(z.data, np.tanh(x @ w0 + b0) @ w1 + b1, rtol=1e-12)
    assert w0.std() == pytest.approx(1 / math.sqrt(12), rel=0.35) and not b0.any()


# -- training ---------------------------------------------------------------------------------------

def check_run(demo, data, epochs, hidden, seed=0):
    v = demo.values
    first = np.random.default_rng(seed + 1).permutation(len(data[0]))[:m.BATCH_SIZE]
    w0, b0, w1, b1 = (a.astype(np.float64) for a in m.init(data[0].shape[1], hidden, seed=seed))
    z = np.tanh(data[0][first].astype(np.float64) @ w0 + b0) @ w1 + b1
    p, onehot = softmax(z), np.eye(10)[data[1][first]]
    first_loss = {"squared": 0.5 * np.sum((p - onehot) ** 2) / len(first),
                  "cross_entropy": -np.mean(np.log(p[np.arange(len(first)), data[1][first]]))}
    for name in ("squared", "cross_entropy"):
        assert v["step_loss"][name][0] == pytest.approx(first_loss[name], rel=1e-5)
        losses = v["epoch_loss"][name]
        assert len(losses) == epochs and np.all(np.diff(losses) < 0)
        assert losses[-1] < 0.6 * v["step_loss"][name][0]
        assert len(v["test_acc"][name]) == epochs + 1
    # the same initial weights: the same predictions before training
    assert v["test_acc"]["squared"][0] == v["test_acc"]["cross_entropy"][0]
    assert v["grad_errors"]["squared"] < 1e-12 and v["grad_errors"]["cross_entropy"] < 1e-12
    assert v["saturated"]["cross_entropy"] < -0.99 < -1e3 * v["saturated"]["squared"]
    assert "Why the squared loss learns slower through a softmax" in demo.text
    assert "∂L/∂z = p − y" in demo.text and "J = diag(p) − p pᵀ" in demo.text


def test_both_losses_fall_on_generated_data():
    data = generated()
    demo = m.run(data=data, epochs=3, hidden=16)
    check_run(demo, data, 3, 16)
    acc = demo.values["test_acc"]
    assert acc["squared"][-1] > 0.8 and acc["cross_entropy"][-1] > 0.8  # chance: 0.1
    assert "3 epochs (60 steps each)" in demo.text


def test_both_losses_fall_on_a_subset_of_real_mnist(mnist_root, tmp_path):
    demo = m.run(tmp_path, epochs=2, data_dir=mnist_root, limit=3000)
    data = m.load_mnist(mnist_root, limit=3000)
    assert data[0].shape == (3000, 784) and data[2].shape == (3000, 784)
    assert 0 <= data[0].min() and data[0].max() == 1
    check_run(demo, data, 2, m.HIDDEN)
    v = demo.values
    # p ≈ 1/10 at the start: the squared loss's gradient is about a tenth of cross-entropy's
    ratio = v["grad_norms"]["squared"] / v["grad_norms"]["cross_entropy"]
    assert 0.09 < ratio < 0.11
    for name in ("squared", "cross_entropy"):
        assert v["test_acc"][name][0] < 0.2 and v["test_acc"][name][-1] > 0.8
    assert v["lr"] == {"squared": 2.0, "cross_entropy": 0.5}
    if importlib.util.find_spec("matplotlib"):
        assert demo.files == [str(tmp_path / "mnist_tanh_softmax.png")]
        assert (tmp_path / "mnist_tanh_softmax.png").stat().st_size > 10_000
    else:
        assert "Matplotlib is not installed" in demo.text


# -- running it -----------------------------------------------------------------------------------

def test_it_is_registered_with_an_example_script(capsys):
    module, about = DEMOS["mnist-tanh-softmax"]
    assert module == "mnist_tanh_softmax" and (ROOT / "examples" / f"{module}.py").exists()
    cli = pytest.importorskip("chainrule.cli")
    assert cli.main(["demo"]) == 0
    assert "mnist-tanh-softmax" in capsys.readouterr().out


def test_python_examples_mnist_tanh_softmax_py_runs(mnist_root, tmp_path):
    script = ROOT / "examples" / "mnist_tanh_softmax.py"
    done = subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path), "--epochs", "1",
                           "--hidden", "32", "--limit", "1000", "--data-dir", mnist_root],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Data: 1000 training and 1000 test images of MNIST" in done.stdout
    assert "Network: 784-32-10" in done.stdout
    assert "squared loss, epoch 1: train loss" in done.stdout  # printed as it trains
    assert "After 1 epoch (16 steps each)" in done.stdout


def test_a_missing_data_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        m.run(data_dir=tmp_path / "nowhere", epochs=1)
