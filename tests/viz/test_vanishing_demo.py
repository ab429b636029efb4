"""`chainrule demo vanishing-gradients`: the lesson asserted with the numbers it measures, and the
monitor's gradient norms on the 10-layer networks against backpropagation written in NumPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.examples import DEMOS
from chainrule.examples import vanishing_gradients as vg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(mnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("vanishing")
    return vg.run(out, data_dir=mnist_root), out


def numpy_grad_norms(version: str, x: np.ndarray, y: np.ndarray) -> list:
    """‖∂L/∂W_l‖ for each Linear layer of ``vg.build(version)`` (seed 0) on one batch, by
    backpropagation written out in float64 NumPy: δ_(l−1) = (δ_l W_l) ⊙ act'(z_(l−1))."""
    net = vg.build(version, x.shape[1])
    linears = [m for m in net if type(m).__name__ == "Linear"]
    W = [np.asarray(m.weight.detach(), dtype=np.float64) for m in linears]
    b = [np.asarray(m.bias.detach(), dtype=np.float64) for m in linears]
    act = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "relu_he": lambda z: np.maximum(z, 0)}[version]
    dact = {"sigmoid": lambda z, h: h * (1 - h), "tanh": lambda z, h: 1 - h * h,
            "relu_he": lambda z, h: (z > 0).astype(np.float64)}[version]
    hs, zs = [x.astype(np.float64)], []
    for i in range(len(W)):
        z = hs[-1] @ W[i].T + b[i]
        zs.append(z)
        if i < len(W) - 1:
            hs.append(act(z))
    p = np.exp(zs[-1] - zs[-1].max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - np.eye(W[-1].shape[0])[y]) / len(x)  # ∂L/∂logits of the mean cross-entropy
    norms = []
    for i in reversed(range(len(W))):
        norms.append(np.linalg.norm(delta.T @ hs[i]))
        if i:
            delta = (delta @ W[i]) * dact(zs[i - 1], hs[i])
    return norms[::-1]


def test_the_monitors_gradient_norms_are_numpys_backprop(demo, mnist_root):
    d, _ = demo
    x_train, y_train, _, _ = vg.load_mnist(mnist_root)
    first = np.random.default_rng(1).permutation(len(x_train))[:vg.BATCH_SIZE]  # seed + 1
    for version in ("sigmoid", "tanh", "relu_he"):
        expected = numpy_grad_norms(version, x_train[first], y_train[first])
        np.testing.assert_allclose(d.values["norms"][version], expected, rtol=2e-3)


def test_sigmoid_gradients_vanish_orders_of_magnitude_below_relu_he(demo):
    d, out = demo
    ratio, norms = d.values["ratio"], d.values["norms"]
    assert all(len(n) == 10 for n in norms.values())
    # measured: 5.3e-8 (sigmoid), 0.14 (tanh), 1.6 (ReLU + He), 11 (ReLU + BatchNorm)
    assert ratio["sigmoid"] == pytest.approx(5.3e-8, rel=0.1)
    assert ratio["tanh"] == pytest.approx(0.137, rel=0.1)
    assert ratio["relu_he"] == pytest.approx(1.60, rel=0.1)
    assert ratio["sigmoid"] / ratio["relu_he"] < 1e-6
    # the sigmoid network's gradient falls layer after layer toward the input, by 4x or more
    s = np.asarray(norms["sigmoid"])
    assert np.all(s[1:] / s[:-1] > 4)
    # after training it has not recovered
    assert d.values["ratio_last"]["sigmoid"] < 1e-6
    assert (out / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"
    assert d.files == [str(out / "gradient_flow.png")]


def test_the_sigmoid_network_learns_less_in_the_same_steps(demo):
    acc = demo[0].values["accuracy"]
    # measured on the first 2,000 test images after 300 steps: 10.2%, 19.3%, 90.3%, 91.0%
    assert acc["sigmoid"] == pytest.approx(0.102, abs=0.03)  # chance
    assert acc["tanh"] == pytest.approx(0.193, abs=0.05)
    assert acc["relu_he"] == pytest.approx(0.903, abs=0.03)
    assert acc["relu_bn"] == pytest.approx(0.910, abs=0.03)
    assert acc["relu_he"] - acc["sigmoid"] > 0.6


def test_the_monitor_diagnoses_the_sigmoid_network_only(demo):
    d = demo[0]
    kinds = d.values["diagnoses"]
    assert "vanishing" in kinds["sigmoid"]
    assert all("vanishing" not in kinds[v] for v in ("tanh", "relu_he", "relu_bn"))
    assert kinds["relu_he"] == [] and kinds["tanh"] == []
    assert "vanishing gradients: the first layer's gradient norm is 4.3e-08" in d.text
    assert "first/last" in d.text and "ReLU + He init" in d.text


def test_the_lesson_holds_on_other_data_too():
    """Ten noisy clusters instead of MNIST, 20 steps: the gradient ratio at initialisation."""
    rng = np.random.default_rng(0)
    centres = rng.random((10, 784)).astype(np.float32)
    y = rng.integers(0, 10, 1400)
    x = np.clip(centres[y] + 0.2 * rng.standard_normal((1400, 784)), 0, 1).astype(np.float32)
    d = vg.run(None, steps=20, data=(x[:1280], y[:1280], x[1280:], y[1280:]))
    assert d.values["ratio"]["sigmoid"] < 1e-5 < 1e-1 < d.values["ratio"]["relu_he"]
    assert d.files == [] and "Data: the given data, 1280 training images" in d.text


def test_without_mnist_the_error_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)vanishing-gradients needs the MNIST files.*"
                                                "CHAINRULE_DATA"):
        vg.run(None, data_dir=tmp_path)


def test_registered_as_a_demo_with_an_example_script():
    """The script is the demo's command line (the demo itself runs in the fixture above)."""
    assert DEMOS["vanishing-gradients"][0] == "vanishing_gradients"
    script = ROOT / "examples" / "vanishing_gradients.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: vanishing_gradients.py [-h] [--out-dir OUT_DIR]" in done.stdout
    assert "sigmoid, tanh, ReLU + He" in done.stdout
