"""The worked examples: each number asserted against the math, derived here independently."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.examples import DEMOS, bp_2_2_1, linear_regression, linear_relu_linear_mse
from chainrule.examples import run_demo, sigmoid_graph, xor_sigmoid

ROOT = Path(__file__).resolve().parents[2]


def sigma(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# -- 1. linear regression -------------------------------------------------------------------------

def test_linear_regression_gradient_descent_reaches_the_closed_form(tmp_path):
    demo = linear_regression.run(tmp_path)
    v = demo.values
    assert v["grad_error"] < 1e-12  # autograd's gradient is Aᵀ(Ax − b)
    A, b = linear_regression.problem()
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(v["x"], x_ls, atol=1e-10)
    losses = np.array(v["losses"])
    assert losses[0] == pytest.approx(0.5 * b @ b)  # x starts at 0
    assert np.all(np.diff(losses) <= 1e-15)
    assert losses[-1] == pytest.approx(0.5 * np.sum((A @ x_ls - b) ** 2), rel=1e-12)
    assert "∂f/∂x = Aᵀ @ ∂f/∂a" in demo.text


# -- 2. the sigmoid neuron, gate by gate ----------------------------------------------------------

def test_sigmoid_graph_numbers_to_four_decimals(tmp_path):
    demo = sigmoid_graph.run(tmp_path)
    v = demo.values
    w0, x0, w1, x1, w2 = 2, -1, -3, -2, -3
    dot = w0 * x0 + w1 * x1 + w2
    z = 1 + math.exp(-dot)
    f = 1 / z
    local = f * (1 - f)  # dσ/d(dot)
    assert round(v["f"], 4) == round(f, 4) == 0.7311 and round(v["f"], 2) == 0.73
    assert round(v["grad_z"], 4) == round(-1 / z ** 2, 4) == -0.5344  # after the reciprocal
    assert round(v["grad_e"], 4) == round(-math.exp(-dot) / z ** 2, 4) == -0.1966  # after the exp
    expected = {"w0": x0 * local, "x0": w0 * local, "w1": x1 * local, "x1": w1 * local, "w2": local}
    for name, g in expected.items():
        assert round(v["grads"][name], 4) == round(g, 4)
        assert round(v["grads_sigmoid"][name], 4) == round(g, 4)
    assert {k: round(g, 2) for k, g in v["grads"].items()} == {
        "w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert v["f_sigmoid"] == pytest.approx(f, abs=1e-15)
    assert "Same gradients as gate by gate: True" in demo.text
    assert "z = h + 1 = 1.3679;  ∂f/∂h = ∂f/∂z · ∂z/∂h = -0.5344 · 1 = -0.5344" in demo.text
    assert (tmp_path / "sigmoid_graph.svg").exists() or (tmp_path / "sigmoid_graph.dot").exists()


def test_the_readme_svg_is_current():
    """docs/sigmoid_graph.svg is what `python examples/sigmoid_graph.py --svg ...` writes."""
    svg = (ROOT / "docs" / "sigmoid_graph.svg").read_text(encoding="utf-8")
    for number in ("0.7311", "&#45;0.5344", "&#45;0.1966", "0.3932", "&#45;0.5898"):
        assert number in svg


# -- 3. the 2-2-1 network -------------------------------------------------------------------------

def first_iteration_by_hand():
    x, t = (0.35, 0.9), 0.5
    W0, W1 = ((0.1, 0.8), (0.4, 0.6)), (0.3, 0.9)
    net1 = [W0[i][0] * x[0] + W0[i][1] * x[1] for i in range(2)]  # 0.755, 0.68
    h = [sigma(n) for n in net1]
    out = sigma(W1[0] * h[0] + W1[1] * h[1])
    error = 0.5 * (t - out) ** 2
    delta2 = (out - t) * out * (1 - out)
    delta1 = [W1[i] * delta2 * h[i] * (1 - h[i]) for i in range(2)]
    dW0 = [[delta1[i] * x[j] for j in range(2)] for i in range(2)]
    dW1 = [delta2 * h[j] for j in range(2)]
    # the copied code: l1_delta[i][j] = (t - out) out (1 - out) W1[j] h_i (1 - h_i), then x.T @ it
    copied = [sum(x[i] * -delta2 * W1[j] * h[i] * (1 - h[i]) for i in range(2)) for j in range(2)]
    return out, error, delta2, delta1, dW0, dW1, copied


def test_bp_2_2_1_first_iteration_output_error_and_deltas():
    demo = bp_2_2_1.run()
    out, error, delta2, delta1, dW0, dW1, copied = first_iteration_by_hand()
    first = demo.values["first"]
    assert out == pytest.approx(0.69028349, abs=1e-8)
    assert error == pytest.approx(0.018104, abs=1e-6)
    assert first["out"] == pytest.approx(out, abs=1e-12)
    assert first["error"] == pytest.approx(error, abs=1e-12)
    assert first["delta2"].item() == pytest.approx(delta2, abs=1e-12)
    np.testing.assert_allclose(first["delta1"].ravel(), delta1, atol=1e-12)
    np.testing.assert_allclose(first["dW0"], dW0, atol=1e-12)
    np.testing.assert_allclose(first["dW1"].ravel(), dW1, atol=1e-12)
    assert f"1  E = {error:.6g}  out = {out:.6f}" in demo.text  # 0.0181039, 0.690283
    errors = demo.values["errors"]
    assert len(errors) == 100 and np.all(np.diff(errors) < 0) and errors[-1] < 1e-6


def test_bp_2_2_1_the_copied_update_is_a_wrong_row_and_gradient_checking_catches_it():
    demo = bp_2_2_1.run()
    *_, dW0, _, copied = first_iteration_by_hand()
    update = demo.values["copied_update"]
    assert update.shape == (1, 2)
    np.testing.assert_allclose(update.ravel(), copied, atol=1e-12)
    assert not np.allclose(np.broadcast_to(update, (2, 2)), -np.array(dW0))
    w0, *_ = bp_2_2_1.copied_numpy(1)  # both rows of W0 moved by the same row
    np.testing.assert_allclose(w0 - bp_2_2_1.W0, np.vstack([update, update]), atol=1e-15)
    assert demo.values["gradcheck_hand_backprop"] is True
    assert demo.values["gradcheck_copied_backprop"] is False
    assert not demo.values["check_graph_hand_backprop"]
    (bad,) = demo.values["check_graph_copied_backprop"]
    assert bad.input_index == 0  # W0
    assert "CopiedBackpropBackward (op 'copied_backprop'" in demo.text


# -- 4. Linear–ReLU–Linear with MSE ---------------------------------------------------------------

def test_linear_relu_linear_mse_hand_gradients_agree_with_autograd_and_torch():
    demo = linear_relu_linear_mse.run()
    v = demo.values
    for k in ("x", "w1", "b1", "w2", "b2"):
        assert np.allclose(v["hand"][k], v["chainrule"][k])
    assert all(v["agree_chainrule"].values())
    assert not v["check_graph"]
    if "torch" not in v:
        pytest.skip("PyTorch is not installed")
    for k in ("x", "w1", "b1", "w2", "b2"):
        assert np.allclose(v["hand"][k], v["torch"][k])
    assert v["loss_torch"] == pytest.approx(v["loss"], rel=1e-12)


def test_lin_grad_sum_of_outer_products_is_the_matrix_product():
    rng = np.random.default_rng(1)
    inp, out_g = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    w = rng.standard_normal((4, 3))
    g_inp, g_w, g_b = linear_relu_linear_mse.lin_grad(inp, out_g, w)
    np.testing.assert_allclose(g_w, inp.T @ out_g)
    np.testing.assert_allclose(g_inp, out_g @ w.T)
    np.testing.assert_allclose(g_b, out_g.sum(0))


# -- 5. XOR ---------------------------------------------------------------------------------------

def test_xor_loss_falls_monotonically_and_predictions_approach_the_targets(tmp_path):
    demo = xor_sigmoid.run(tmp_path)
    v = demo.values
    losses = np.array(v["losses"])
    assert len(losses) == 1500
    assert v["monotonic"] and np.all(np.diff(losses) < 0)
    assert losses[0] > 0.9 and losses[-1] < 0.01
    np.testing.assert_allclose(v["predictions"], [0, 1, 1, 0], atol=0.05)


# -- running them ---------------------------------------------------------------------------------

def test_every_demo_has_an_example_script():
    assert sorted(DEMOS) == ["bp-2-2-1", "bptt", "grad-cam", "gradient-penalty", "jacobians",
                             "linear-regression", "linear-relu-linear-mse", "mnist-tanh-softmax",
                             "newton", "sigmoid-graph", "vanishing-gradients", "xor-sigmoid"]
    for name, (module, about) in DEMOS.items():
        assert (ROOT / "examples" / f"{module}.py").exists() and about


def test_one_copy_the_command_runs_the_file_a_learner_reads(capsys):
    cli = pytest.importorskip("chainrule.cli")
    for name, (module, _) in DEMOS.items():
        assert cli.main(["demo", name, "--source"]) == 0
        path = Path(capsys.readouterr().out.strip())
        assert path.resolve() == (ROOT / "examples" / f"{module}.py").resolve()
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines > 60, f"{path} is {lines} lines: the example itself, not a stub"
    assert not (ROOT / "src" / "chainrule" / "viz" / "demos").exists()


def test_run_demo_returns_the_text_and_unknown_names_are_refused():
    assert "Same gradients as gate by gate: True" in run_demo("sigmoid-graph")
    with pytest.raises(KeyError, match="sigmoid-graph"):
        run_demo("sigmoid")


@pytest.mark.parametrize("name, expect", [
    ("sigmoid-graph", "Same gradients as gate by gate: True"),
    ("bp-2-2-1", "CopiedBackprop: gradcheck FAILS"),
    ("linear-regression", "x (np.linalg.lstsq)"),
    ("linear-relu-linear-mse", "x True, w1 True, b1 True, w2 True, b2 True"),
    ("xor-sigmoid", "The loss fell at every step: True"),
])
def test_python_examples_name_py_runs(name, expect, tmp_path):
    script = ROOT / "examples" / f"{DEMOS[name][0]}.py"
    done = subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout


def test_chainrule_demo_command(tmp_path, capsys):
    cli = pytest.importorskip("chainrule.cli")
    assert cli.main(["demo"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in DEMOS)
    assert cli.main(["demo", "sigmoid-graph", "--out", str(tmp_path)]) == 0
    assert "-0.5344" in capsys.readouterr().out
    assert any(tmp_path.glob("sigmoid_graph.*"))
