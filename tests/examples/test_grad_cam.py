"""Grad-CAM with module hooks: the heat maps against the same Grad-CAM in PyTorch, the hooks gone
afterwards, and, on real MNIST, the heat on the digit's strokes."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.training.models import build_model
from chainrule.examples import grad_cam as gc

ROOT = Path(__file__).resolve().parents[2]


# -- the same Grad-CAM, written in PyTorch --------------------------------------------------------

def torch_cnn(model):
    """The CLI's CNN in PyTorch, float64, with ``model``'s weights."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(64 * 7 * 7, 128), tnn.ReLU(), tnn.Dropout(0.25),
        tnn.Linear(128, 10),
    ).double()
    net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float64))
                         for k, v in model.state_dict().items()})
    return net.eval()


def torch_grad_cam(net, x, layer_index: int, target=None):
    """Grad-CAM in PyTorch, with its own module hooks on ``net[layer_index]``."""
    import torch
    import torch.nn.functional as tF
    kept = {}
    layer = net[layer_index]
    handles = [layer.register_forward_hook(lambda m, a, out: kept.update(A=out.detach())),
               layer.register_full_backward_hook(lambda m, gi, go: kept.update(G=go[0]))]
    x = torch.from_numpy(x).requires_grad_()
    logits = net(x)
    target = logits.argmax(1) if target is None else torch.as_tensor(target)
    logits.gather(1, target[:, None]).sum().backward()
    for h in handles:
        h.remove()
    alpha = kept["G"].mean(dim=(2, 3))
    small = torch.relu((alpha[:, :, None, None] * kept["A"]).sum(1))
    cam = tF.interpolate(small[:, None], size=x.shape[2:], mode="bilinear",
                         align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    cam = torch.where(peak > 0, cam / peak.clamp_min(1e-300), 0)
    return {"cam": cam.numpy(), "cam_small": small.numpy(), "A": kept["A"].numpy(),
            "grad": kept["G"].numpy(), "alpha": alpha.detach().numpy(),
            "logits": logits.detach().numpy(), "target": target.numpy()}


def digits(n: int, seed: int = 0) -> np.ndarray:
    """``n`` digit-like images (N, 1, 28, 28) in float64, normalised as MNIST's: a random
    stroke (a thick polyline) on a dark background, with a little noise. (On a flat background
    every conv output is the same number across a pooling window: the max-pool picks one of equal
    values, and which one depends on rounding, in PyTorch as here.)"""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 1, 28, 28))
    rows, cols = np.mgrid[0:28, 0:28]
    for k in range(n):
        points = rng.uniform(6, 22, (4, 2))
        for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
            for t in np.linspace(0, 1, 30):
                r, c = r0 + t * (r1 - r0), c0 + t * (c1 - c0)
                out[k, 0] = np.maximum(out[k, 0], np.clip(2.2 - np.hypot(rows - r, cols - c),
                                                          0, 1))
    out += 0.02 * rng.random(out.shape)
    return (out - 0.1307) / 0.3081


@pytest.fixture(scope="module")
def random_cnn():
    cr.manual_seed(3)
    return build_model("cnn").double()


@pytest.mark.parametrize("where", ["relu after the last conv", "last conv"])
def test_grad_cam_equals_pytorchs(random_cnn, where):
    model = random_cnn
    x = digits(4)
    name, layer = gc.feature_layer(model) if where.startswith("relu") else gc.last_conv(model)
    assert (name, type(layer).__name__) == (("4", "ReLU") if where.startswith("relu")
                                            else ("3", "Conv2d"))
    ours = gc.grad_cam(model, x, layer)
    theirs = torch_grad_cam(torch_cnn(model), x, int(name))
    np.testing.assert_array_equal(ours["target"], theirs["target"])
    for key in ("logits", "A", "grad", "alpha", "cam_small", "cam"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9, atol=1e-12, err_msg=key)
    if where.startswith("relu"):  # the comparison means something: maps that are not flat
        assert np.all(theirs["cam"].max(axis=(1, 2)) == 1.0)
        assert np.all(theirs["cam"].std(axis=(1, 2)) > 0.1)


def test_grad_cam_for_a_given_class_equals_pytorchs(random_cnn):
    x = digits(3, seed=1)
    target = np.array([3, 7, 0])
    ours = gc.grad_cam(random_cnn, x, target=target)
    theirs = torch_grad_cam(torch_cnn(random_cnn), x, 4, target=target)
    np.testing.assert_array_equal(ours["target"], target)
    np.testing.assert_allclose(ours["alpha"], theirs["alpha"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(ours["cam"], theirs["cam"], rtol=1e-9, atol=1e-12)


def test_alpha_is_the_mean_gradient_and_the_cam_its_weighted_sum(random_cnn):
    """The formula, by NumPy on what the hooks kept: α_c = mean ∂y/∂A_c, relu(Σ α_c A_c)."""
    r = gc.grad_cam(random_cnn, digits(2, seed=2))
    np.testing.assert_allclose(r["alpha"], r["grad"].mean(axis=(2, 3)), rtol=1e-12)
    small = np.maximum(np.einsum("nc,nchw->nhw", r["alpha"], r["A"]), 0)
    np.testing.assert_allclose(r["cam_small"], small, rtol=1e-10, atol=1e-15)
    assert r["A"].shape == r["grad"].shape == (2, 64, 14, 14) and r["cam"].shape == (2, 28, 28)
    assert r["cam"].min() >= 0 and np.allclose(r["cam"].max(axis=(1, 2)), 1)


# -- the hooks, the model's state -----------------------------------------------------------------

def hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_and_the_model_is_left_as_it_was(random_cnn):
    model = random_cnn
    model.train()
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    gc.grad_cam(model, digits(2))
    assert hook_count(model) == 0
    assert model.training  # the mode is restored
    assert all(p.grad is None for p in model.parameters())  # backward(inputs=[x]) only
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), before[k])
    model.eval()


def test_hooks_are_removed_when_something_raises(random_cnn):
    with pytest.raises(ValueError, match=r"grad_cam: target must hold one class per image, "
                                         r"shape \(2,\), got \(3,\)"):
        gc.grad_cam(random_cnn, digits(2), target=np.array([1, 2, 3]))
    assert hook_count(random_cnn) == 0


def test_errors_name_what_is_wrong(random_cnn):
    with pytest.raises(ValueError, match=r"grad_cam: x must be a batch of images \(N, C, H, W\), "
                                         r"got shape \(1, 28, 28\)"):
        gc.grad_cam(random_cnn, digits(1)[0])
    with pytest.raises(ValueError, match="grad_cam: Sequential has no Conv2d layer"):
        gc.grad_cam(build_model("mlp"), digits(1).astype(np.float32))


def test_ink_fraction_by_hand():
    cam = np.zeros((2, 2, 2))
    cam[0] = [[1.0, 3.0], [0.0, 4.0]]  # total 8; on the ink (two right pixels): 7
    pixels = np.array([[[0.0, 0.9], [0.2, 0.6]], [[1.0, 1.0], [1.0, 1.0]]])
    share = gc.ink_fraction(cam, pixels)
    assert share[0] == pytest.approx(7 / 8) and np.isnan(share[1])


# -- on real MNIST --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist(mnist_root):
    return gc.load_mnist(mnist_root)


@pytest.fixture(scope="module")
def demo(mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("grad_cam")
    return gc.run(out, steps=150, data=mnist), out


def test_the_heat_lies_on_the_digits_strokes(demo, mnist):
    """Measured at 150 steps on the first 200 test images: 33 % of the heat on the ink (pixels
    above 0.5), which covers 12 % of the pixels; more than the ink's area on all 200."""
    model = demo[0].values["model"]
    x, y = mnist[1][0][:200], mnist[1][1][:200]
    r = gc.grad_cam(model, x)
    pixels = x * np.float32(cr.datasets.MNIST.std) + np.float32(cr.datasets.MNIST.mean)
    share = gc.ink_fraction(r["cam"], pixels)
    area = (pixels[:, 0] > gc.INK).mean(axis=(1, 2))
    assert np.mean(r["target"] == y) > 0.95
    assert np.isnan(share).sum() <= 4  # an all-zero map: no place speaks for the class
    assert np.nanmean(share) > 0.25
    assert np.nanmean(share) / area.mean() > 2.2  # uniform heat would give 1
    assert np.mean(share[~np.isnan(share)] > area[~np.isnan(share)]) > 0.9


def test_the_demo_says_what_it_found_and_draws_it(demo):
    d, out = demo
    v = d.values
    assert v["layer"] == "4" and v["hooks_left"] == 0
    assert v["accuracy"] > 0.9
    assert len(v["picked"]) == 10 and (out / "grad_cam.png").stat().st_size > 20_000
    assert d.files == [str(out / "grad_cam.png")]
    assert v["losses"][0] > 2 * np.mean(v["losses"][-10:])
    k = int(np.argmin(v["picked"]))  # test image 0 is the worked example
    a = v["alpha"][k]
    top = np.argsort(-a)[0]
    assert f"α_{top} = {a[top]:.4f}" in d.text
    assert f"The network predicts {v['predicted'][k]}" in d.text
    assert f"pixel (row {v['peak'][0]}, column {v['peak'][1]})" in d.text
    assert v["peak_to_ink"] < 3  # the hottest pixel is on or next to the stroke
    assert v["cam"][k][v["peak"]] == 1.0
    assert f"{100 * v['ink_share'][k]:.0f}% of the heat lies on the ink" in d.text
    assert 0 <= v["all_zero_before_relu"] <= 10
    assert "module '4' has 0 hooks left" in d.text


def test_a_checkpoint_gives_the_same_heat_maps(demo, mnist, tmp_path):
    from chainrule.training.loop import TrainConfig
    d, _ = demo
    path = tmp_path / "checkpoint.npz"
    cr.save({"model": d.values["model"].state_dict(), "config": asdict(TrainConfig(model="cnn"))},
            path)
    loaded = gc.run(None, checkpoint=path, data=mnist)
    assert f"loaded from {path}" in loaded.text
    np.testing.assert_array_equal(loaded.values["cam"], d.values["cam"])
    cr.save({"model": build_model("mlp").state_dict(), "config": asdict(TrainConfig())}, path)
    with pytest.raises(ValueError, match=r"grad-cam: .*checkpoint.npz holds a 'mlp' model"):
        gc.run(None, checkpoint=path, data=mnist)


def test_python_examples_grad_cam_py_runs(mnist_root, tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "grad_cam.py"), "--steps", "20",
                           "--data-dir", mnist_root, "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "trained here for 20 steps" in done.stdout
    assert "module '4' has 0 hooks left" in done.stdout
    assert (tmp_path / "grad_cam.png").stat().st_size > 20_000
