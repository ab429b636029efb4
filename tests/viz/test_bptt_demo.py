"""`chainrule demo bptt`: the per-step gradient norms it measures, against backpropagation through
time written in NumPy and against torch's cells with the same weights, and the lesson."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.examples import DEMOS, run_demo
from chainrule.examples import bptt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("bptt")
    return bptt.run(out), out


def weights(cell) -> dict:
    return {name: np.asarray(p).copy() for name, p in cell.named_parameters()}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_rnn_norms(w, xs):
    """‖∂L/∂h_t‖, t = 1..T, of h_t = tanh(x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh), L = Σ h_T."""
    hs = [np.zeros((xs.shape[1], w["weight_hh"].shape[1]))]
    for x in xs:
        hs.append(np.tanh(x @ w["weight_ih"].T + w["bias_ih"] + hs[-1] @ w["weight_hh"].T
                          + w["bias_hh"]))
    dh, norms = np.ones_like(hs[-1]), []
    for t in range(len(xs), 0, -1):
        norms.append(np.linalg.norm(dh))
        dh = (dh * (1 - hs[t] ** 2)) @ w["weight_hh"]
    return np.array(norms[::-1])


def numpy_lstm_norms(w, xs):
    """‖∂L/∂h_t‖, t = 1..T, of PyTorch's LSTM cell (gates i, f, g, o), L = Σ h_T."""
    H = w["weight_hh"].shape[1]
    h, c = np.zeros((xs.shape[1], H)), np.zeros((xs.shape[1], H))
    cache = []
    for x in xs:
        a = x @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"]
        i, f, g, o = (sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]),
                      sigmoid(a[:, 3 * H:]))
        c_prev, c = c, f * c + i * g
        h = o * np.tanh(c)
        cache.append((i, f, g, o, c_prev, c))
    dh, dc = np.ones_like(h), np.zeros_like(c)
    norms = []
    for i, f, g, o, c_prev, c in reversed(cache):
        norms.append(np.linalg.norm(dh))
        dc = dc + dh * o * (1 - np.tanh(c) ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g ** 2), dh * np.tanh(c) * o * (1 - o)], axis=1)
        dh = da @ w["weight_hh"]
        dc = dc * f
    return np.array(norms[::-1])


def torch_norms(cell, xs):
    """‖∂L/∂h_t‖ from torch's RNNCell / LSTMCell with the cell's weights."""
    import torch
    lstm = "lstm" in type(cell).__name__.lower()
    t_cell = (torch.nn.LSTMCell if lstm else torch.nn.RNNCell)(
        cell.input_size, cell.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name, value in weights(cell).items():
            getattr(t_cell, name).copy_(torch.from_numpy(value))
    h = torch.zeros(xs.shape[1], cell.hidden_size, dtype=torch.float64)
    c = torch.zeros_like(h)
    hs = []
    for x in torch.from_numpy(xs):
        if lstm:
            h, c = t_cell(x, (h, c))
        else:
            h = t_cell(x, h)
        h.retain_grad()
        hs.append(h)
    h.sum().backward()
    return np.array([t.grad.norm().item() for t in hs])


def test_the_norms_are_backpropagation_through_time_by_hand(demo):
    v = demo[0].values
    xs, cells, results = v["xs"], v["cells"], v["results"]
    assert xs.shape == (bptt.STEPS, 1, bptt.INPUT)
    np.testing.assert_allclose(results["rnn"]["h"], numpy_rnn_norms(weights(cells["rnn"]), xs),
                               rtol=1e-9)
    for model in ("lstm", "lstm_forget1"):
        np.testing.assert_allclose(results[model]["h"], numpy_lstm_norms(weights(cells[model]), xs),
                                   rtol=1e-9)
    # the forget-gate bias: 1 on the f rows of b_ih, 0 on b_hh; the other rows PyTorch's init
    H = bptt.HIDDEN
    w = weights(cells["lstm_forget1"])
    assert np.all(w["bias_ih"][H:2 * H] == 1) and np.all(w["bias_hh"][H:2 * H] == 0)
    assert np.abs(w["bias_ih"][:H]).max() <= 1 / np.sqrt(H)


def test_the_norms_match_torchs_cells_with_the_same_weights(demo):
    pytest.importorskip("torch")
    v = demo[0].values
    for model, cell in v["cells"].items():
        np.testing.assert_allclose(v["results"][model]["h"], torch_norms(cell, v["xs"]),
                                   rtol=1e-9)


def test_the_lesson_the_rnns_gradient_vanishes_through_time(demo):
    v = demo[0].values
    ratio, factor = v["ratio"], v["factor"]
    for model, r in v["results"].items():
        assert r["h"][-1] == pytest.approx(np.sqrt(bptt.HIDDEN))  # ∂L/∂h_T: all ones
        assert ratio[model] == pytest.approx(r["h"][0] / r["h"][-1])
        assert factor[model] == pytest.approx(ratio[model] ** (1 / (bptt.STEPS - 1)))
    # the numbers measured (seed 0): the tanh RNN keeps ~5e-26 of the gradient over 99 steps,
    # about 0.56 a step (W_hh's spectral radius with PyTorch's init is about 1/√3 ≈ 0.58)
    assert ratio["rnn"] == pytest.approx(5.061e-26, rel=1e-3)
    assert ratio["lstm"] == pytest.approx(5.540e-21, rel=1e-3)
    assert ratio["lstm_forget1"] == pytest.approx(2.972e-09, rel=1e-3)
    assert 0.5 < factor["rnn"] < 0.58 < factor["lstm"] < 0.7 < factor["lstm_forget1"] < 0.9
    # orders of magnitude apart: the LSTM with forget bias 1 by 16, with PyTorch's init by 4
    assert ratio["lstm_forget1"] / ratio["rnn"] > 1e16
    assert ratio["lstm"] / ratio["rnn"] > 1e4
    # every step back shrinks the RNN's gradient (from t = 99 on)
    assert np.all(np.diff(v["results"]["rnn"]["h"][:-1]) > 0)
    text = demo[0].text
    assert "17 orders of magnitude apart" in text
    assert f"{ratio['rnn']:17.3e}" in text and f"{ratio['lstm_forget1']:22.3e}" in text


def test_the_three_step_explanation_sums_w_hhs_shares(demo):
    text = demo[0].values["three_steps"]
    # by hand: h_t = tanh(x_t W_ihᵀ + h_(t-1) W_hhᵀ), biases 0, h0 = [0.5, -0.5], L = Σ h3
    W_ih = np.array([[0.5, -0.3], [0.2, 0.4]])
    W_hh = np.array([[0.9, -0.4], [0.3, 0.8]])
    xs = [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]])]
    hs = [np.array([[0.5, -0.5]])]
    for x in xs:
        hs.append(np.tanh(x @ W_ih.T + hs[-1] @ W_hh.T))
    dh, shares = np.ones((1, 2)), []
    for t in (3, 2, 1):
        da = dh * (1 - hs[t] ** 2)
        shares.insert(0, da.T @ hs[t - 1])
        dh = da @ W_hh
    from chainrule.viz import notation as N
    line = (f"∂L/∂W_hh = {N.plus([N.array(s) for s in shares])} = {N.array(sum(shares))}   "
            "(the sum over its 3 uses: time steps 1, 2, 3, making h1, h2, h3)")
    assert line in text
    assert line in demo[0].text


def test_the_plot_is_written(demo):
    pytest.importorskip("matplotlib")
    d, out = demo
    assert d.files == [str(out / "bptt.png")] and (out / "bptt.png").stat().st_size > 10_000


def test_it_is_a_demo_and_an_example_script(tmp_path):
    assert DEMOS["bptt"][0] == "bptt"
    assert "orders of magnitude apart" in run_demo("bptt")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "bptt.py"), "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "‖∂L/∂h_t‖" in done.stdout
