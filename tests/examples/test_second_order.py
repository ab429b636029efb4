"""The second-order demos: Jacobians, Newton's method, a WGAN-GP gradient penalty.

Every number is derived here again, from the closed forms, NumPy and (where installed) PyTorch.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import DEMOS, gradient_penalty, jacobians, newton
from chainrule.examples import linear_regression, mnist_tanh_softmax

ROOT = Path(__file__).resolve().parents[2]


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.fixture(scope="module")
def jac():
    return jacobians.run()


@pytest.fixture(scope="module")
def newt():
    return newton.run()


@pytest.fixture(scope="module")
def gp():
    return gradient_penalty.run()


# -- 1. Jacobians ---------------------------------------------------------------------------------

def test_the_network_is_the_tutorials(jac):
    v = jac.values
    w0, b0, w1, b1 = mnist_tanh_softmax.init(4, 3, 3, seed=0, dtype=np.float64)
    for got, want in zip((v["w0"], v["b0"], v["w1"], v["b1"]), (w0, b0, w1, b1)):
        np.testing.assert_array_equal(got, want)
    a = v["x"] @ w0 + b0
    np.testing.assert_allclose(v["a"], a, rtol=1e-14)
    np.testing.assert_allclose(v["z"], np.tanh(a) @ w1 + b1, rtol=1e-14)
    p = softmax(v["z"])
    assert v["loss"] == pytest.approx(0.5 * np.sum((p - v["y"]) ** 2), rel=1e-14)


def test_tanh_jacobian_is_diagonal_one_minus_tanh_squared(jac):
    v = jac.values
    expected = np.diag(1 - np.tanh(v["a"]) ** 2)
    np.testing.assert_allclose(v["tanh_jacobian"], expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(v["tanh_closed_form"], expected, rtol=1e-14, atol=0)
    assert np.count_nonzero(v["tanh_jacobian"]) == 3


def test_softmax_jacobian_is_s_i_delta_ij_minus_s_j(jac):
    v = jac.values
    p = softmax(v["z"])
    expected = np.array([[p[i] * ((i == j) - p[j]) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(v["softmax_jacobian"], expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(v["softmax_closed_form"], expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(v["softmax_jacobian"], v["softmax_jacobian"].T, atol=1e-16)
    np.testing.assert_allclose(v["softmax_jacobian"].sum(1), 0, atol=1e-15)


def test_jacobians_equal_torchs():
    torch = pytest.importorskip("torch")
    jf = torch.autograd.functional.jacobian
    v = jacobians.run().values
    a, z = torch.tensor(v["a"]), torch.tensor(v["z"])
    np.testing.assert_allclose(v["tanh_jacobian"], jf(torch.tanh, a).numpy(), rtol=1e-14,
                               atol=1e-16)
    np.testing.assert_allclose(v["softmax_jacobian"], jf(lambda t: t.softmax(0), z).numpy(),
                               rtol=1e-13, atol=1e-16)

    def net(x):
        return (torch.tanh(x @ torch.tensor(v["w0"]) + torch.tensor(v["b0"]))
                @ torch.tensor(v["w1"]) + torch.tensor(v["b1"])).softmax(0)

    np.testing.assert_allclose(v["chain"], jf(net, torch.tensor(v["x"])).numpy(), rtol=1e-12,
                               atol=1e-16)


def test_row_by_row_equals_autograd_functional(jac):
    functional = cr.autograd.functional
    if not hasattr(functional, "jacobian") or not hasattr(functional, "hessian"):
        pytest.skip("cr.autograd.functional.jacobian/hessian are not there yet")
    v = jac.values
    np.testing.assert_allclose(functional.jacobian(cr.tanh, cr.tensor(v["a"])).data,
                               v["tanh_jacobian"], rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(functional.jacobian(lambda t: t.softmax(0), cr.tensor(v["z"])).data,
                               v["softmax_jacobian"], rtol=1e-13, atol=1e-16)
    A, b = (cr.tensor(a) for a in linear_regression.problem())
    H = functional.hessian(lambda x: linear_regression.loss(A, x, b),
                           cr.zeros(3, dtype=cr.float64))
    np.testing.assert_allclose(H.data, newton.run().values["hessian"], rtol=1e-13)


def test_the_product_of_the_jacobians_is_autograds_gradient(jac):
    v = jac.values
    a = v["x"] @ v["w0"] + v["b0"]
    h = np.tanh(a)
    p = softmax(h @ v["w1"] + v["b1"])
    j_softmax = np.diag(p) - np.outer(p, p)
    chain = j_softmax @ v["w1"].T @ np.diag(1 - h ** 2) @ v["w0"].T  # ∂p/∂x, (3, 4)
    np.testing.assert_allclose(v["chain"], chain, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(v["chain_autograd"], chain, rtol=1e-12, atol=1e-16)
    grad_x = chain.T @ (p - v["y"])
    for k in ("hand", "autograd"):
        np.testing.assert_allclose(v[k]["x"], grad_x, rtol=1e-12, atol=1e-17)
    delta_z = j_softmax @ (p - v["y"])
    delta_a = (1 - h ** 2) * (v["w1"] @ delta_z)
    expected = {"W1": np.outer(h, delta_z), "b1": delta_z, "W0": np.outer(v["x"], delta_a),
                "b0": delta_a}
    for k, g in expected.items():
        np.testing.assert_allclose(v["hand"][k], g, rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(v["autograd"][k], g, rtol=1e-12, atol=1e-17)
    assert max(v["errors"].values()) < 1e-15


def test_the_gradient_is_printed_digit_for_digit(jac):
    lines = jac.text.splitlines()
    hand = next(s for s in lines if s.strip().startswith("by hand   ["))
    auto = next(s for s in lines if s.strip().startswith("autograd  ["))
    digits = re.findall(r"-?\d\.\d{12}", hand)
    assert len(digits) == 4 and digits == re.findall(r"-?\d\.\d{12}", auto)
    np.testing.assert_allclose([float(d) for d in digits], jac.values["autograd"]["x"],
                               atol=5e-13)


def test_the_gradient_equals_torchs():
    torch = pytest.importorskip("torch")
    v = jacobians.run().values
    x = torch.tensor(v["x"], requires_grad=True)
    params = [torch.tensor(v[k], requires_grad=True) for k in ("w0", "b0", "w1", "b1")]
    w0, b0, w1, b1 = params
    p = (torch.tanh(x @ w0 + b0) @ w1 + b1).softmax(0)
    loss = 0.5 * ((p - torch.tensor(v["y"])) ** 2).sum()
    loss.backward()
    assert v["loss"] == pytest.approx(loss.item(), rel=1e-14)
    for k, t in zip(("x", "W0", "b0", "W1", "b1"), (x, *params)):
        np.testing.assert_allclose(v["hand"][k], t.grad.numpy(), rtol=1e-12, atol=1e-17)


# -- 2. Newton's method ---------------------------------------------------------------------------

def test_the_hessian_by_autograd_is_ata(newt):
    A, b = linear_regression.problem()
    np.testing.assert_allclose(newt.values["hessian"], A.T @ A, rtol=1e-13)
    np.testing.assert_allclose(newt.values["AtA"], A.T @ A, rtol=0)


def test_the_hessian_at_any_point_is_ata():  # f is quadratic: the Hessian does not depend on x
    A, b = linear_regression.problem()
    x = cr.tensor(np.random.default_rng(7).standard_normal(3), requires_grad=True)
    np.testing.assert_allclose(newton.hessian(cr.tensor(A), cr.tensor(b), x), A.T @ A,
                               rtol=1e-13)


def test_the_hessian_equals_torchs():
    torch = pytest.importorskip("torch")
    A, b = (torch.tensor(a) for a in linear_regression.problem())
    H = torch.autograd.functional.hessian(lambda x: 0.5 * ((A @ x - b) ** 2).sum(),
                                          torch.zeros(3, dtype=torch.float64))
    np.testing.assert_allclose(newton.run().values["hessian"], H.numpy(), rtol=1e-13)


def test_one_newton_step_reaches_lstsq(newt):
    v = newt.values
    A, b = linear_regression.problem()
    np.testing.assert_allclose(v["grad0"], -A.T @ b, rtol=1e-13)  # ∇f(0) = Aᵀ(A·0 − b)
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(v["x_lstsq"], x_ls, rtol=0)
    assert np.abs(v["x1"] - x_ls).max() < 1e-10
    np.testing.assert_allclose(v["x1"], np.linalg.solve(A.T @ A, A.T @ b), atol=1e-12)
    assert np.abs(v["grad1"]).max() < 1e-12 * np.abs(v["grad0"]).max()


def test_gradient_descent_takes_the_steps_the_eigenvalues_predict(newt):
    v = newt.values
    A, b = linear_regression.problem()
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    lam = np.linalg.eigvalsh(A.T @ A)
    np.testing.assert_allclose(v["eigenvalues"], lam, rtol=1e-12)
    assert v["rate"] == pytest.approx(1 - lam[0] / lam[-1], rel=1e-12)
    x, step, k = np.zeros(3), 1 / lam[-1], 0
    while np.abs(x - x_ls).max() >= 1e-10:
        x = x - step * A.T @ (A @ x - b)
        k += 1
    assert v["gd_steps"] == k > 10
    assert v["gd_losses"][0] == pytest.approx(0.5 * np.sum((A @ (step * A.T @ b) - b) ** 2),
                                              rel=1e-12)
    assert v["gd_losses"][-1] == pytest.approx(0.5 * np.sum((A @ x_ls - b) ** 2), rel=1e-12)
    # the slowest direction shrinks by `rate` per step: k is about log(error₀ / 1e-10) / −log(rate)
    u = np.linalg.eigh(A.T @ A)[1][:, 0]
    assert abs(k - math.log(1e-10 / abs(u @ x_ls)) / math.log(v["rate"])) < 5
    assert f"step {k:3d}: f = " in newt.text


# -- 3. gradient penalty --------------------------------------------------------------------------

def torch_critic(torch, initial):
    nn = torch.nn
    D = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Conv2d(4, 8, 3, stride=2), nn.Tanh(),
                      nn.Flatten(), nn.Linear(32, 1)).double()
    D.load_state_dict({k: torch.tensor(a) for k, a in initial.items()})
    return D


def test_twenty_penalty_steps_match_pytorch(gp):
    torch = pytest.importorskip("torch")
    v = gp.values
    D = torch_critic(torch, v["initial"])
    opt = torch.optim.SGD(D.parameters(), lr=v["lr"])
    real, fake = torch.tensor(v["real"]), torch.tensor(v["fake"])
    h = {"loss": [], "critic": [], "penalty": [], "norm": []}
    for eps in torch.tensor(v["eps"]):
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_()
        (grad_x,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        norm = grad_x.flatten(1).norm(dim=1)
        penalty = ((norm - 1) ** 2).mean()
        critic = D(fake).mean() - D(real).mean()
        loss = critic + v["lam"] * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        for k, t in zip(h, (loss, critic, penalty, norm.mean())):
            h[k].append(t.item())
    assert len(v["loss"]) == 20
    for k in h:
        np.testing.assert_allclose(v[k], h[k], rtol=0, atol=1e-9, err_msg=k)
    final = D.state_dict()
    assert list(v["final"]) == list(final)
    for k, t in final.items():
        np.testing.assert_allclose(v["final"][k], t.numpy(), rtol=0, atol=1e-9, err_msg=k)
        moved = np.abs(v["final"][k] - v["initial"][k]).max()
        # D's last bias cancels in D(fake) − D(real) and is not in ∇ₓD: its gradient is 0
        assert moved == 0 if k == "5.bias" else moved > 1e-4


def test_the_first_penalty_is_the_formula(gp):
    torch = pytest.importorskip("torch")
    v = gp.values
    D = torch_critic(torch, v["initial"])
    eps = v["eps"][0]
    x_hat = torch.tensor(eps * v["real"] + (1 - eps) * v["fake"], requires_grad=True)
    (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat)
    norms = np.sqrt((g.numpy() ** 2).sum(axis=(1, 2, 3)))
    assert v["penalty"][0] == pytest.approx(np.mean((norms - 1) ** 2), rel=1e-12)
    assert v["norm"][0] == pytest.approx(norms.mean(), rel=1e-12)


def test_the_critic_starts_as_pytorch_initialises_and_the_data_is_as_described(gp):
    v = gp.values
    fan_in = {"0": 9, "2": 36, "5": 32}
    for k, a in v["initial"].items():
        assert a.dtype == np.float64
        assert np.abs(a).max() <= 1 / math.sqrt(fan_in[k.split(".")[0]])
    real, fake, eps = v["real"], v["fake"], v["eps"]
    assert real.shape == fake.shape == (8, 1, 8, 8) and eps.shape == (20, 8, 1, 1, 1)
    assert real[:, :, 2:6, 2:6].mean() > 0.9 and abs(np.delete(real, range(2, 6), 2).mean()) < 0.1
    assert 0 <= fake.min() and fake.max() < 1 and 0 <= eps.min() and eps.max() < 1


def test_the_penalty_pulls_the_gradient_norm_to_one(gp):
    v = gp.values
    assert v["norm"][0] < 0.5 and abs(v["norm"][-1] - 1) < 0.05
    assert v["penalty"][-1] < v["penalty"][0] / 100
    assert v["critic"][-1] < v["critic"][0]
    for k in range(20):
        assert v["loss"][k] == pytest.approx(v["critic"][k] + v["lam"] * v["penalty"][k],
                                             rel=1e-12, abs=1e-15)
        assert f"{k + 1:4d}  {v['loss'][k]:13.9f}" in gp.text


def test_the_demo_does_not_import_torch():
    code = ("import sys; from chainrule.examples import gradient_penalty as g; g.run(); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# -- running them ---------------------------------------------------------------------------------

EXPECT = {"jacobians": "∇ₓL = (∂p/∂x)ᵀ (p − y)",
          "newton": "One Newton step from x₀ = 0",
          "gradient-penalty": "D(fake) − D(real)"}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_chainrule_demo_name(name, tmp_path, capsys):
    cli = pytest.importorskip("chainrule.cli")
    assert cli.main(["demo"]) == 0
    assert name in capsys.readouterr().out
    assert cli.main(["demo", name, "--out", str(tmp_path)]) == 0
    assert EXPECT[name] in capsys.readouterr().out
    if name == "gradient-penalty" and importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "gradient_penalty_loss.png").stat().st_size > 5_000


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_chainrule_demo_command_line(name, tmp_path):
    done = subprocess.run([sys.executable, "-m", "chainrule", "demo", name], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert EXPECT[name] in done.stdout


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_python_examples_name_py_runs(name, tmp_path):
    module, about = DEMOS[name]
    script = ROOT / "examples" / f"{module}.py"
    done = subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert EXPECT[name] in done.stdout and about
