"""TrainingMonitor: its numbers against NumPy on the same weights, gradients and activations; each
diagnosis on a network built to show it, silence on a healthy run; no hook left behind; plots."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.nn import hooks as module_hooks
from chainrule.training.models import build_model
from chainrule.examples.mnist_tanh_softmax import one_blas_thread
from chainrule.viz.monitor import Diagnosis, TrainingMonitor


def hook_count(model) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def train(model, xs, ys, steps, lr=0.1, mon=None, opt=None):
    opt = opt or cr.optim.SGD(model.parameters(), lr=lr)
    for k in range(steps):
        loss = F.cross_entropy(model(xs[k % len(xs)]), ys[k % len(ys)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if mon is not None:
            mon.step(loss)
    return loss


def batches(n, shape, classes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    xs = [cr.tensor(rng.standard_normal((16, *shape)).astype(dtype)) for _ in range(n)]
    ys = [cr.tensor(rng.integers(0, classes, 16)) for _ in range(n)]
    return xs, ys


def mnist_like(n_batches, seed=0):
    """Ten blurry digit-like templates plus noise: 784 pixels in [0, 1], batches of 64."""
    rng = np.random.default_rng(seed)
    templates = (rng.random((10, 784)) < 0.2).astype(np.float32)
    xs, ys = [], []
    for _ in range(n_batches):
        y = rng.integers(0, 10, 64)
        x = np.clip(templates[y] * 0.8 + 0.3 * rng.random((64, 784)), 0, 1).astype(np.float32)
        xs.append(cr.tensor(x.reshape(64, 1, 28, 28)))
        ys.append(cr.tensor(y))
    return xs, ys


# -- the numbers against NumPy --------------------------------------------------------------------

def small_net():
    """4 → Linear(6) → ReLU → Linear(5) → Tanh → Linear(3) → Sigmoid, float64; two ReLU units
    dead (bias −50) and two tanh units driven into saturation."""
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3),
                        nn.Sigmoid()).double()
    with cr.no_grad():
        net[0].bias[:2] = -50.0
        net[2].weight[:2] *= 40.0
        net[4].weight.mul_(8.0)
    return net


def test_records_match_numpy_on_the_same_weights_gradients_and_activations():
    net = small_net()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4))
    y = rng.random((16, 3))
    lr = 0.1
    W = {i: np.array(net[i].weight.detach().numpy()) for i in (0, 2, 4)}
    b = {i: np.array(net[i].bias.detach().numpy()) for i in (0, 2, 4)}
    opt = cr.optim.SGD(net.parameters(), lr=lr)
    mon = TrainingMonitor(net, every=1, log=None)
    loss = F.mse_loss(net(cr.tensor(x)), cr.tensor(y))
    opt.zero_grad()
    loss.backward()
    grads = {i: np.array(net[i].weight.grad.numpy()) for i in (0, 2, 4)}
    opt.step()
    mon.step(loss)

    # the forward pass in NumPy, from the weights before the step
    h1 = x @ W[0].T + b[0]
    r = np.maximum(h1, 0)
    h2 = r @ W[2].T + b[2]
    t = np.tanh(h2)
    h3 = t @ W[4].T + b[4]
    s = 1 / (1 + np.exp(-h3))
    outputs = {"0": h1, "1": r, "2": h2, "3": t, "4": h3, "5": s}
    rec = mon.latest()
    assert list(rec) == ["0", "1", "2", "3", "4", "5"]
    assert [rec[k]["kind"] for k in rec] == ["Linear", "ReLU", "Linear", "Tanh", "Linear",
                                              "Sigmoid"]
    for name, out in outputs.items():
        assert rec[name]["step"] == 0 and rec[name]["layer"] == name
        assert rec[name]["act_mean"] == pytest.approx(out.mean(), rel=1e-12, abs=1e-14)
        assert rec[name]["act_std"] == pytest.approx(out.std(), rel=1e-12)
    for i in (0, 2, 4):
        r_ = rec[str(i)]
        g, w_after = grads[i], W[i] - lr * grads[i]
        assert r_["weight_norm"] == pytest.approx(np.sqrt(np.sum(w_after ** 2)), rel=1e-12)
        assert r_["grad_norm"] == pytest.approx(np.sqrt(np.sum(g ** 2)), rel=1e-12)
        # SGD: Δw = −lr·g, so ‖Δw‖/‖w‖ = lr‖g‖/‖w_before‖
        assert r_["update_ratio"] == pytest.approx(lr * np.linalg.norm(g) / np.linalg.norm(W[i]),
                                                   rel=1e-9)
        assert r_["grad_mean"] == pytest.approx(g.mean(), rel=1e-9, abs=1e-15)
        assert r_["grad_std"] == pytest.approx(g.std(), rel=1e-6)
        assert r_["grad_abs_mean"] == pytest.approx(np.abs(g).mean(), rel=1e-12)
        assert r_["grad_abs_max"] == pytest.approx(np.abs(g).max(), rel=1e-12)
        assert r_["dead_frac"] is None and r_["saturated_frac"] is None
    # dead: units 0 for every sample; here the two with bias −50 (and any other)
    dead = np.mean(np.all(r == 0, axis=0))
    assert dead >= 2 / 6
    assert rec["1"]["dead_frac"] == pytest.approx(dead)
    assert rec["3"]["saturated_frac"] == pytest.approx(np.mean(np.abs(t) > 0.97))
    assert rec["3"]["saturated_frac"] >= 0.3  # the two scaled units saturate
    assert rec["5"]["saturated_frac"] == pytest.approx(np.mean((s < 0.01) | (s > 0.99)))
    assert rec["5"]["saturated_frac"] > 0
    for name in ("1", "3", "5"):  # activation modules hold no parameters
        assert all(rec[name][k] is None for k in ("weight_norm", "grad_norm", "update_ratio"))
    assert len(mon.records) == 6 and mon.losses == [loss.item()]


def test_large_gradients_exact_norms_mean_and_max_and_a_sampled_abs_mean():
    # 3001 x 40 = 120,040 weights: above GRAD_SAMPLE (so grad_abs_mean is sampled) and not a
    # multiple of the 1024-wide rows the sums are taken in (so the tail counts too)
    cr.manual_seed(3)
    net = nn.Sequential(nn.Linear(40, 3001), nn.Tanh(), nn.Linear(3001, 2))
    net.double()
    xs, ys = batches(1, (40,), 2)
    xs = [x.double() for x in xs]
    w0 = np.asarray(net[0].weight).copy()
    mon = TrainingMonitor(net, every=1, log=None)
    train(net, xs, ys, 1, lr=0.01, mon=mon)
    g = np.asarray(net[0].weight.grad).ravel()
    assert g.size > TrainingMonitor.GRAD_SAMPLE
    r = mon.latest()["0"]
    assert r["grad_norm"] == pytest.approx(np.sqrt(np.sum(g ** 2)), rel=1e-12)
    assert r["grad_mean"] == pytest.approx(g.mean(), rel=1e-9, abs=1e-15)
    assert r["grad_abs_max"] == np.abs(g).max()  # exact: the largest and the smallest
    m = g.size // 1024  # evenly spaced runs of 1024 consecutive elements
    runs = g[:m * 1024].reshape(m, 1024)[::-(-m // (TrainingMonitor.GRAD_SAMPLE // 1024))]
    assert runs.size <= TrainingMonitor.GRAD_SAMPLE
    assert r["grad_abs_mean"] == pytest.approx(np.abs(runs).mean(), rel=1e-12)
    assert r["grad_abs_mean"] == pytest.approx(np.abs(g).mean(), rel=0.05)
    w1 = np.asarray(net[0].weight)
    assert r["weight_norm"] == pytest.approx(np.linalg.norm(w1), rel=1e-12)
    assert r["update_ratio"] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0),
                                              rel=1e-12)


def test_dead_channels_of_a_conv_layer():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with cr.no_grad():
        net[0].bias[1] = -100.0
    xs, ys = batches(1, (1, 8, 8), 3)
    mon = TrainingMonitor(net, every=1, log=None)
    train(net, xs, ys, 1, mon=mon)
    with cr.no_grad():
        out = np.asarray(net[1](net[0](xs[0])))  # (N, C, H, W) after the step: the same dead one
    rec = mon.latest()
    assert list(rec) == ["0", "1", "3"]  # Flatten has no parameters and is no activation
    assert np.all(out[:, 1] == 0)
    assert rec["1"]["dead_frac"] == pytest.approx(0.25)  # one channel of four, over N, H, W


def test_only_every_nth_step_is_recorded_and_the_first_forward_of_it():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    xs, ys = batches(4, (5,), 3)
    mon = TrainingMonitor(net, every=3, log=None)
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    seen = []
    for k in range(8):
        if k == 3:  # an evaluation under no_grad before the recorded step's forward: ignored
            with cr.no_grad():
                net(cr.tensor(np.full((2, 5), 100.0, dtype=np.float32)))
        out = net(xs[k % 4])
        seen.append(np.asarray(out.detach()).copy())
        loss = F.cross_entropy(out, ys[k % 4])
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step(loss)
        # between the recorded steps (0, 3, 6), no hook anywhere, except armed for the next
        assert hook_count(net) == (0 if (k + 1) % 3 else 2 + 3)
    assert sorted({r["step"] for r in mon.records}) == [0, 3, 6]
    assert mon.latest()["2"]["step"] == 6
    step3 = [r for r in mon.records if r["step"] == 3 and r["layer"] == "2"][0]
    assert step3["act_mean"] == pytest.approx(seen[3].mean(), rel=1e-6)
    assert len(mon.losses) == 8


def test_a_resumed_run_counts_from_its_global_step():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    xs, ys = batches(2, (5,), 3)
    mon = TrainingMonitor(net, every=5, log=None, start=12)
    train(net, xs, ys, 10, mon=mon)  # steps 12 to 21
    assert sorted({r["step"] for r in mon.records}) == [12, 15, 20]


# -- hooks leave nothing behind -------------------------------------------------------------------

def test_monitoring_changes_nothing_and_remove_leaves_no_hook():
    def run(monitored):
        cr.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))
        xs, ys = batches(3, (6,), 4)
        before = dict(module_hooks._live_hooks)
        if monitored:
            with TrainingMonitor(net, every=2, log=None) as mon:
                assert hook_count(net) > 0
                train(net, xs, ys, 7, mon=mon)
            assert mon.records
            mon.step(1.0)  # after remove(): only the loss is checked, nothing armed again
            mon.step(1.0)
        else:
            train(net, xs, ys, 7)
        assert hook_count(net) == 0 and dict(module_hooks._live_hooks) == before
        return [np.array(p.detach().numpy()) for p in net.parameters()]

    for a, b in zip(run(False), run(True)):  # the same training, bit for bit (dropout too)
        np.testing.assert_array_equal(a, b)


def test_forward_output_is_unchanged_while_armed():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    x = cr.tensor(np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32))
    plain = np.asarray(net(x).detach()).copy()
    mon = TrainingMonitor(net, every=5, log=None)
    assert hook_count(net) > 0
    np.testing.assert_array_equal(np.asarray(net(x).detach()), plain)
    mon.remove()
    assert hook_count(net) == 0


def test_every_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        TrainingMonitor(nn.Linear(2, 2), every=0)


# -- diagnoses ------------------------------------------------------------------------------------

def deep(act, layers=10, width=32, inputs=20, classes=5, gain=None, seed=0):
    cr.manual_seed(seed)
    parts = []
    sizes = [inputs] + [width] * (layers - 1) + [classes]
    for i in range(layers):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if gain is not None:
            nn.init.normal_(linear.weight, 0.0, gain / np.sqrt(sizes[i]))
        parts.append(linear)
        if act is not None and i < layers - 1:
            parts.append(act())
    return nn.Sequential(*parts)


def diagnosed(net, steps=1, lr=0.1, inputs=20, classes=5, every=1, loss_value=None):
    said = []
    xs, ys = batches(2, (inputs,), classes)
    mon = TrainingMonitor(net, every=every, log=said.append)
    train(net, xs, ys, steps, lr=lr, mon=mon)
    assert said == [d.message for d in mon.diagnoses]  # each said once, through log
    assert len({d.kind for d in mon.diagnoses}) == len(mon.diagnoses)
    return {d.kind: d for d in mon.diagnoses}


def test_vanishing_gradients_in_a_deep_sigmoid_network():
    net = deep(nn.Sigmoid)
    said = []
    xs, ys = batches(2, (20,), 5)
    mon = TrainingMonitor(net, every=1, log=said.append)
    train(net, xs, ys, 3, mon=mon)
    d = {d.kind: d for d in mon.diagnoses}["vanishing"]
    assert (d.step, d.layer, d.kind) == (0, "0", "vanishing") and d.message in said
    g0, g18 = (r["grad_norm"] for r in mon.records if r["step"] == 0 and r["layer"] in ("0", "18"))
    assert g0 / g18 < 1e-3
    assert f"gradient norm is {g0:.2g}, {g0 / g18:.1g} times the last layer's ('18': {g18:.2g}" \
        in d.message
    assert "kaiming_normal_" in d.message and "step 0" in d.message and "'0' (Linear)" in d.message


class Amplify(cr.autograd.Function):
    """y = x; backward multiplies the gradient by 30 (a gradient that grows on its way back
    while the forward stays the same size)."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 30.0


class AmplifyGrad(nn.Module):
    def forward(self, x):
        return Amplify.apply(x)


def test_exploding_gradients_grow_toward_the_input():
    cr.manual_seed(0)
    parts = [nn.Linear(20, 16)]
    for _ in range(3):
        parts += [AmplifyGrad(), nn.Tanh(), nn.Linear(16, 16)]
    net = nn.Sequential(*parts[:-1], nn.Linear(16, 5))  # ×30 three times: 2.7e4
    found = diagnosed(net, lr=1e-3)
    d = found["exploding"]
    assert d.layer == "0" and "grows toward the input" in d.message
    assert "vanishing" not in found


def test_exploding_gradient_norm():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 8), nn.Linear(8, 5))
    with cr.no_grad():
        net[0].weight.mul_(1e4)
        net[1].weight.mul_(1e4)
    found = diagnosed(net, lr=1e-12)
    assert "exploding" in found and "above 1000" in found["exploding"].message


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_nonfinite_loss_activation_and_gradient():
    mon = TrainingMonitor(nn.Linear(2, 2), every=1, log=None)
    mon.step(float("nan"))
    mon.step(float("inf"))
    assert [(d.step, d.layer, d.kind) for d in mon.diagnoses] == [(0, "", "nonfinite")]
    assert "the loss is nan at step 0" in mon.diagnoses[0].message

    net = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 5))
    with cr.no_grad():
        net[2].weight[0, 0] = float("inf")
    said = []
    mon = TrainingMonitor(net, every=1, log=said.append)
    xs, ys = batches(1, (20,), 5)
    out = net(xs[0])
    mon.step(1.0)  # no backward: the forward's output is what is looked at
    d = mon.diagnoses[0]
    assert (d.layer, d.kind) == ("2", "nonfinite") and "output of Linear '2'" in d.message
    assert said == [d.message]

    net = nn.Sequential(nn.Linear(20, 8), nn.Linear(8, 5))
    mon = TrainingMonitor(net, every=1, log=None)
    loss = F.cross_entropy(net(xs[0]), ys[0])
    loss.backward()
    net[0].weight.grad[0, 0] = float("nan")  # a gradient gone bad, read from p.grad
    mon.step(loss)
    assert [(d.layer, d.kind) for d in mon.diagnoses] == [("0", "nonfinite")]
    assert "gradient of Linear '0'" in mon.diagnoses[0].message
    assert np.isfinite(out.detach().numpy()).sum() < out.numel()


def test_dead_relus():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    with cr.no_grad():
        net[0].bias[:24] = -100.0  # 24 of 32 units never fire
    found = diagnosed(net)
    d = found["dead_relu"]
    assert d.layer == "1" and "75% of the ReLU units are dead" in d.message


def test_saturated_tanh():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 5))
    with cr.no_grad():
        net[0].weight.mul_(30.0)
    found = diagnosed(net)
    assert found["saturated"].layer == "1" and "Tanh outputs are saturated" in \
        found["saturated"].message


def test_update_ratios_far_from_1e_3_three_recorded_steps_in_a_row():
    small = diagnosed(deep(nn.ReLU, layers=3), steps=3, lr=1e-7)
    assert "small_updates" in small and "large_updates" not in small
    assert small["small_updates"].step == 2
    assert "below 1e-05 at 3 recorded steps in a row, in 3 layers" in \
        small["small_updates"].message
    large = diagnosed(deep(nn.ReLU, layers=3), steps=3, lr=20.0)
    assert large["large_updates"].step == 2
    assert "above 0.1 at 3 recorded steps in a row" in large["large_updates"].message
    # two steps out of the band are a moment, not a diagnosis
    assert "large_updates" not in diagnosed(deep(nn.ReLU, layers=3), steps=2, lr=20.0)
    # nor is a band left and re-entered: the count starts again
    net = deep(nn.ReLU, layers=3)
    xs, ys = batches(2, (20,), 5)
    mon = TrainingMonitor(net, every=1, log=None)
    opt = cr.optim.SGD(net.parameters(), lr=20.0)
    for lr in (20.0, 20.0, 1e-3, 20.0, 20.0):
        opt.param_groups[0]["lr"] = lr
        train(net, xs, ys, 1, mon=mon, opt=opt)
    assert "large_updates" not in [d.kind for d in mon.diagnoses]


def test_each_kind_is_said_once_over_many_steps():
    found = diagnosed(deep(nn.Sigmoid), steps=12, every=2)
    assert found["vanishing"].step == 0
    assert isinstance(found["vanishing"], Diagnosis)
    assert str(found["vanishing"]) == found["vanishing"].message


def test_a_healthy_run_is_silent():
    """The CLI's MLP, SGD lr 0.05, on MNIST-like data for 200 steps: nothing to say."""
    cr.manual_seed(0)
    model = build_model("mlp")
    xs, ys = mnist_like(20)
    said = []
    mon = TrainingMonitor(model, every=10, log=said.append)
    with one_blas_thread():  # batches of 64: threads only fight over a busy machine's cores
        last = train(model, xs, ys, 200, lr=0.05, mon=mon)
    assert said == [] and mon.diagnoses == []
    assert mon.losses[0] > 2.0 and last.item() < 0.5  # and it did learn
    assert len({r["step"] for r in mon.records}) == 20
    ratios = [r["update_ratio"] for r in mon.records if r["update_ratio"] is not None]
    assert len(ratios) == 20 * 3 and 3e-4 < np.median(ratios) < 3e-3  # Karpathy's ~1e-3


# -- plots ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_tanh():
    pytest.importorskip("matplotlib")
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                        nn.Linear(16, 5))
    with cr.no_grad():
        net[0].weight.mul_(10.0)  # a saturated tanh, visible in the histogram
    xs, ys = batches(3, (20,), 5)
    mon = TrainingMonitor(net, every=2, log=None)
    train(net, xs, ys, 9, mon=mon)
    return mon


def test_save_plots_writes_four_pngs(trained_tanh, tmp_path):
    paths = trained_tanh.save_plots(tmp_path / "plots")
    assert [p.name for p in paths] == ["gradient_flow.png", "update_ratio.png",
                                       "activations.png", "dead_units.png"]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plots_draw_the_recorded_numbers(trained_tanh, tmp_path):
    from chainrule.viz import monitor_plots as mp
    mon = trained_tanh
    last = {r["layer"]: r for r in mon.records if r["step"] == 8}
    fig = mp.plot_gradient_flow(mon, tmp_path / "g.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    heights = [p.get_height() for p in ax.patches]
    names = ["0", "2", "4"]
    assert heights == pytest.approx([last[n]["grad_abs_max"] for n in names]
                                    + [last[n]["grad_abs_mean"] for n in names])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0: Linear", "2: Linear", "4: Linear"]

    fig = mp.plot_update_ratio(mon, tmp_path / "u.png")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() == "0: Linear"]
    ratios = [r["update_ratio"] for r in mon.records if r["layer"] == "0"]
    np.testing.assert_allclose(lines[0].get_ydata(), ratios)
    assert any(ln.get_linestyle() == "--" and list(ln.get_ydata()) == [1e-3, 1e-3]
               for ln in ax.get_lines())

    fig = mp.plot_activations(mon, tmp_path / "a.png")
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert len(labels) == 2 and labels[0].startswith("1: Tanh") and labels[1].startswith("3: ReLU")
    assert f"saturated {100 * last['1']['saturated_frac']:.1f}%" in labels[0]
    assert last["1"]["saturated_frac"] > 0.5
    tanh_line = fig.axes[0].get_lines()[0]
    x, y = tanh_line.get_xdata(), tanh_line.get_ydata()  # bins shared with the ReLU's line
    assert y.sum() == pytest.approx(1.0)  # shares of the outputs
    assert y[np.abs(x) > 1.03].sum() == 0  # no tanh output beyond ±1 (a bin's half width)
    assert y[np.abs(x) > 0.9].sum() > 0.5  # saturated: most of the mass near ±1

    fig = mp.plot_dead_units(mon, tmp_path / "d.png")
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "3: ReLU"][0]
    np.testing.assert_allclose(line.get_ydata(),
                               [100 * r["dead_frac"] for r in mon.records if r["layer"] == "3"])
