"""Grad-CAM on MNIST: which pixels made the CNN choose its digit, found with module hooks.

    α_c = mean over (i, j) of ∂y/∂A_c[i, j]      A: the last conv layer's feature maps, C×H×W
    cam = relu(Σ_c α_c A_c), upsampled to 28×28 (bilinear), divided by its maximum

Grad-CAM (Selvaraju et al., 2017) weighs each feature map A_c of a conv layer by how much the
class score y (the logit of the predicted digit) grows when that map grows, on average over its
positions: α_c. The weighted sum of the maps is a coarse heat map of the evidence for the class;
relu keeps the places that speak for it. Two module hooks fetch what it needs, with no change to
the network; A is the output of the ReLU that follows the last conv layer (its rectified feature
maps):

    layer.register_forward_hook(lambda m, args, out: keep(A=out))              # A
    layer.register_full_backward_hook(lambda m, g_in, g_out: keep(G=g_out[0])) # ∂y/∂A
    y = model(x)[range(N), predicted].sum(); y.backward(inputs=[x])

Each score depends on its own image only, so the gradient of their sum holds every image's
∂y/∂A. A full backward hook fires once the gradient with respect to the module's input is
known; ``inputs=[x]`` sends the backward pass through the layer to the image and leaves the
weights' ``.grad`` alone. The network is the CNN of ``chainrule train --model cnn``: conv 1→32,
relu, maxpool, conv 32→64, relu, maxpool, linear 3136→128, relu, dropout, linear 128→10; its
last conv layer gives 64 maps of 14×14 positions, each position seeing an 8×8 patch of the digit.

The same recipe on the conv's own output, before its ReLU, mostly fails: ∂y/∂A_c is zero where
the ReLU cuts A_c off, so α_c only weighs where A_c > 0, but the sum also takes in A_c where it is
negative; Σ_c α_c A_c is then often negative everywhere and the map all zero (the demo counts how
often).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

from chainrule.examples import Demo, positive
from chainrule.examples.mnist_tanh_softmax import one_blas_thread

STEPS, BATCH_SIZE, LR, SEED = 300, 64, 1e-3, 0
INK = 0.5  # a pixel of intensity above this (in [0, 1]) is ink


# -- Grad-CAM -------------------------------------------------------------------------------------

def last_conv(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the last ``nn.Conv2d`` in ``model``; a ValueError if it has none."""
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"grad_cam: {type(model).__name__} has no Conv2d layer; Grad-CAM needs a "
                         f"conv layer's feature maps")
    return convs[-1]


def feature_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) whose output is the last conv layer's feature maps: the ``nn.ReLU`` that
    follows the last ``nn.Conv2d`` (in the order of ``named_modules``), or the conv itself when no
    ReLU follows it."""
    name, conv = last_conv(model)
    modules = list(model.named_modules())
    k = next(i for i, (_, m) in enumerate(modules) if m is conv)
    if k + 1 < len(modules) and isinstance(modules[k + 1][1], nn.ReLU):
        return modules[k + 1]
    return name, conv


def grad_cam(model: nn.Module, x, layer: nn.Module | None = None, target=None) -> dict:
    """Grad-CAM heat maps of ``model`` at ``layer`` (default: ``feature_layer(model)``, the last
    conv layer's rectified feature maps) for a batch
    of images ``x`` (N, C_in, H_in, W_in), for the classes ``target`` (N,) (default: the predicted
    ones). The model is put in eval mode for the pass and its mode restored; the hooks are removed
    afterwards, also when something raises.

    Returns a dict of NumPy arrays: ``cam`` (N, H_in, W_in) in [0, 1] (all zeros where no place
    speaks for the class), ``cam_small`` (N, H, W) before upsampling and normalising, ``A``
    (N, C, H, W) and ``grad`` ∂y/∂A, ``alpha`` (N, C), ``logits`` (N, classes) and ``target``.
    """
    if layer is None:
        _, layer = feature_layer(model)
    x = cr.as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"grad_cam: x must be a batch of images (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    kept = {}

    def keep_activation(module, args, output):
        kept["A"] = output

    def keep_gradient(module, grad_input, grad_output):
        kept["grad"] = grad_output[0]

    handles = [layer.register_forward_hook(keep_activation),
               layer.register_full_backward_hook(keep_gradient)]
    was_training = model.training
    try:
        model.eval()
        x = x.detach().requires_grad_()
        with cr.enable_grad():
            logits = model(x)
            if target is None:
                target = logits.detach().argmax(dim=1)
            target = cr.as_tensor(target).long()
            if target.shape != (len(x),):
                raise ValueError(f"grad_cam: target must hold one class per image, shape "
                                 f"({len(x)},), got {tuple(target.shape)}")
            score = logits.gather(1, target[:, None]).sum()
            score.backward(inputs=[x])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if "A" not in kept or "grad" not in kept:
        raise RuntimeError(f"grad_cam: the layer {type(layer).__name__} was not called by the "
                           f"model's forward, or no gradient reached it")
    with cr.no_grad():
        A, G = kept["A"].detach(), kept["grad"].detach()
        alpha = G.mean(dim=(2, 3))                                      # (N, C)
        cam_small = (alpha[:, :, None, None] * A).sum(dim=1).relu()     # (N, H, W)
        cam = F.interpolate(cam_small[:, None], size=tuple(x.shape[2:]), mode="bilinear",
                            align_corners=False)[:, 0]
        peak = cam.amax(dim=(1, 2), keepdim=True)
        cam = cr.where(peak > 0, cam / cr.where(peak > 0, peak, cr.ones_like(peak)),
                       cr.zeros_like(cam))
    return {"cam": cam.numpy(), "cam_small": cam_small.numpy(), "A": A.numpy(),
            "grad": G.numpy(), "alpha": alpha.numpy(), "logits": logits.detach().numpy(),
            "target": target.numpy()}


def ink_fraction(cam: np.ndarray, pixels: np.ndarray, ink: float = INK) -> np.ndarray:
    """For each heat map (N, H, W), the fraction of its mass on the digit's ink (``pixels`` in
    [0, 1] above ``ink``); NaN for an all-zero map."""
    on_ink = pixels.reshape(cam.shape) > ink
    total = cam.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (cam * on_ink).sum(axis=(1, 2)) / total, np.nan)


# -- the network, trained briefly -----------------------------------------------------------------

def load_mnist(data_dir=None, dataset: str = "mnist"):
    """(train, test): each (images normalised as ``chainrule train`` does, (N, 1, 28, 28) float32;
    labels int64; pixels in [0, 1])."""
    from chainrule.training.loop import load_dataset
    out = []
    for train in (True, False):
        ds = load_dataset(dataset, data_dir, train)
        images, labels = (np.asarray(t) for t in ds.tensors)
        out.append((images, labels))
    return tuple(out)


def train_cnn(images, labels, steps: int = STEPS, batch_size: int = BATCH_SIZE, lr: float = LR,
              seed: int = SEED) -> tuple[nn.Module, list]:
    """The CLI's CNN, trained with Adam on ``steps`` random batches: (model, the losses). One BLAS
    thread: on this machine, under load, five times faster than NumPy's default."""
    from chainrule.training.models import build_model
    cr.manual_seed(seed)
    model = build_model("cnn")
    opt = cr.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    model.train()
    with one_blas_thread():
        for _ in range(steps):
            batch = rng.integers(0, len(images), batch_size)
            loss = F.cross_entropy(model(cr.from_numpy(images[batch])),
                                   cr.from_numpy(labels[batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    return model, losses


def accuracy(model: nn.Module, images, labels, batch_size: int = 500) -> float:
    with cr.no_grad(), one_blas_thread():
        hits = sum(int((model(cr.from_numpy(images[k:k + batch_size])).numpy().argmax(1)
                        == labels[k:k + batch_size]).sum())
                   for k in range(0, len(images), batch_size))
    return hits / len(images)


def first_of_each_class(labels, classes: int = 10) -> np.ndarray:
    """The index of the first image of each class, in class order (classes absent are skipped)."""
    return np.array([int(np.argmax(labels == k)) for k in range(classes) if np.any(labels == k)])


# -- the picture ----------------------------------------------------------------------------------

def save_picture(pixels, cam, labels, predicted, probs, path, ink_share=None) -> str | None:
    """A grid of digits, each in grey with its heat map over it and the digit's outline on top,
    titled with the true and predicted class; None when Matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return None
    n = len(cam)
    cols = min(n, 5)
    rows = -(-n // cols)
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    cmap = colormaps["jet"]
    fig = Figure(figsize=(2.2 * cols + 0.9, 2.45 * rows + 0.8))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        if k >= n:
            ax.set_axis_off()
            continue
        ax.set(xticks=[], yticks=[])
        for spine in ax.spines.values():
            spine.set_color("#9e9e9e")
        digit = pixels[k].reshape(28, 28)
        ax.imshow(digit, cmap="gray_r", vmin=0, vmax=1.6)  # ink dark grey on white
        heat = cmap(cam[k])
        heat[..., 3] = 0.7 * np.clip(cam[k] / 0.25, 0, 1)  # cold: see-through; hot: opaque
        ax.imshow(heat, interpolation="bilinear")
        ax.contour(digit, levels=[INK], colors="black", linewidths=0.7)
        wrong = labels[k] != predicted[k]
        title = f"true {labels[k]}, predicted {predicted[k]}\nprob. {probs[k]:.2f}"
        if ink_share is not None and np.isfinite(ink_share[k]):
            title += f", heat on ink {100 * ink_share[k]:.0f}%"
        ax.set_title(title, fontsize=9, color="#b71c1c" if wrong else "black")
    fig.subplots_adjust(left=0.02, right=0.86, top=1 - 0.75 / fig.get_figheight(), bottom=0.03,
                        wspace=0.08, hspace=0.35)
    cax = fig.add_axes([0.885, 0.12, 0.02, 0.7])
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), cax=cax)
    bar.set_label("Grad-CAM heat (1 = the image's maximum)")
    fig.suptitle("Grad-CAM at the CNN's last conv layer (64×14×14), for the predicted class;\n"
                 "grey, outlined in black: the digit's ink (pixels > 0.5); heat below 0.25 fades "
                 "out", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from chainrule._io import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return str(path)


# -- the demo -------------------------------------------------------------------------------------

def run(out_dir=None, steps: int = STEPS, data_dir=None, checkpoint=None, seed: int = SEED,
        data=None, echo: bool = False) -> Demo:
    """Train the CNN briefly (or load ``checkpoint``, written by ``chainrule train --model cnn``),
    then Grad-CAM on the first test image of each digit. ``data``: ((train images, labels),
    (test images, labels)) normalised as by ``load_mnist``, to use instead of reading MNIST."""
    demo = Demo()

    def say(*parts):
        demo.say(*parts)
        if echo:
            print(demo.lines[-1], flush=True)

    title, formula, _, hooks = __doc__.strip().split("\n\n")[:4]
    for line in (title, "", formula, "", "The hooks, and the backward pass that fires them:",
                 hooks, ""):
        say(line)
    dataset = "mnist"
    if checkpoint is not None:
        from chainrule.training.loop import load_checkpoint
        model, cfg, _ = load_checkpoint(checkpoint)
        if cfg.model != "cnn":
            raise ValueError(f"grad-cam: {checkpoint} holds a {cfg.model!r} model; Grad-CAM needs "
                             f"the conv layers of a 'cnn' (chainrule train --model cnn)")
        dataset = cfg.dataset
        data_dir = data_dir if data_dir is not None else cfg.data_dir
    from chainrule.datasets import FashionMNIST, MNIST
    stats = FashionMNIST if dataset.startswith("fashion") else MNIST
    if data is None:
        data = load_mnist(data_dir, dataset)
    (x_train, y_train), (x_test, y_test) = data
    if checkpoint is None:
        start = time.perf_counter()
        model, losses = train_cnn(x_train, y_train, steps, seed=seed)
        seconds = time.perf_counter() - start
        say(f"The network: `chainrule train --model cnn`'s CNN, trained here for {steps} steps of "
            f"Adam (lr {LR:g}, batch {BATCH_SIZE}, seed {seed}) in {seconds:.1f} s;")
        say(f"  the loss fell from {np.mean(losses[:10]):.3f} (first 10 steps) to "
            f"{np.mean(losses[-10:]):.3f} (last 10).")
        demo.values.update(losses=losses, train_seconds=seconds)
    else:
        say(f"The network: `chainrule train --model cnn`'s CNN, loaded from {checkpoint}.")
    n_eval = min(len(x_test), 2000)
    acc = accuracy(model, x_test[:n_eval], y_test[:n_eval])
    say(f"  Test accuracy {100 * acc:.2f}% on the first {n_eval} test images.")
    demo.values["accuracy"] = acc

    name, layer = feature_layer(model)
    conv_name, conv = last_conv(model)
    picked = first_of_each_class(y_test)
    x = x_test[picked]
    pixels = x * np.float32(stats.std) + np.float32(stats.mean)  # back to [0, 1]
    r = grad_cam(model, x, layer)
    cam, alpha, A, G = r["cam"], r["alpha"], r["A"], r["grad"]
    probs_all = np.exp(r["logits"] - r["logits"].max(1, keepdims=True))
    probs_all /= probs_all.sum(1, keepdims=True)
    predicted = r["target"]
    probs = probs_all[np.arange(len(x)), predicted]
    share = ink_fraction(cam, pixels)
    area = (pixels.reshape(cam.shape) > INK).mean(axis=(1, 2))
    hooks_left = len(layer._forward_hooks) + len(layer._backward_hooks)
    raw = grad_cam(model, x, conv)  # the same, on the conv's output before its ReLU
    raw_zero = int((raw["cam"].max(axis=(1, 2)) == 0).sum())

    # one example, step by step: the first test image
    k = int(np.argmin(picked))
    c_top = np.argsort(-alpha[k])[:3]
    small = r["cam_small"][k]
    i, j = np.unravel_index(np.argmax(small), small.shape)
    pi, pj = np.unravel_index(np.argmax(cam[k]), cam[k].shape)
    ink_rows, ink_cols = np.nonzero(pixels[k, 0] > INK)
    to_ink = float(np.min(np.hypot(ink_rows - pi, ink_cols - pj))) if len(ink_rows) else np.inf
    where = "on the ink" if to_ink == 0 else f"{to_ink:.1f} pixels from the nearest ink"
    say("")
    say(f"Step by step, for test image {picked[k]}, a {y_test[picked[k]]}:")
    say(f"  1. forward, with a forward hook on module '{name}' ({layer!r}, after the last conv "
        f"layer '{conv_name}'):")
    say(f"     it keeps A, {A.shape[1]}×{A.shape[2]}×{A.shape[3]}. The network predicts "
        f"{predicted[k]}: score y = logit {r['logits'][k, predicted[k]]:.3f}, "
        f"probability {probs[k]:.3f}.")
    say("  2. y.backward(inputs=[x]); the full backward hook keeps grad_output[0] = ∂y/∂A, "
        f"{G.shape[1]}×{G.shape[2]}×{G.shape[3]}.")
    say(f"  3. α_c = mean of ∂y/∂A_c over the {G.shape[2]}×{G.shape[3]} positions: "
        f"{int((alpha[k] > 0).sum())} of {alpha.shape[1]} channels speak for the class (α > 0);")
    say("     the largest: " + ", ".join(f"α_{c} = {alpha[k, c]:.4f}" for c in c_top) + ".")
    say(f"  4. cam = relu(Σ_c α_c A_c), {small.shape[0]}×{small.shape[1]}: it peaks at "
        f"row {i}, column {j} (value {small[i, j]:.3f}); "
        f"{int((small > 0).sum())} of {small.size} positions are positive.")
    say(f"  5. upsampled to 28×28 (F.interpolate, bilinear) and divided by its maximum: the peak "
        f"is at pixel (row {pi}, column {pj}), {where};")
    say(f"     {100 * share[k]:.0f}% of the heat lies on the ink, which covers "
        f"{100 * area[k]:.0f}% of the image.")
    say(f"  The hooks are removed afterwards: module '{name}' has {hooks_left} hooks left.")
    say("")
    say("All ten digits (the first test image of each class):")
    say(f"  {'true':>4} {'predicted':>9} {'p':>6} {'heat on ink':>12} {'ink area':>9}")
    for t, p_, pr, s, a in zip(y_test[picked], predicted, probs, share, area):
        say(f"  {t:>4} {p_:>9} {pr:>6.3f} {100 * s:>11.0f}% {100 * a:>8.0f}%")
    say(f"  Mean: {100 * np.nanmean(share):.0f}% of the heat on the ink, which covers "
        f"{100 * area.mean():.0f}% of the pixels: the heat gathers on and beside the strokes.")
    say(f"On the conv's output before its ReLU (module '{conv_name}'), the map is all zero for "
        f"{raw_zero} of the {len(x)} digits:")
    say("  ∂y/∂A is zero where the ReLU cuts A off, so α only weighs A > 0, yet the sum also takes "
        "in A < 0.")
    demo.values.update(layer=name, picked=picked, predicted=predicted, probs=probs, cam=cam,
                       alpha=alpha, ink_share=share, ink_area=area, hooks_left=hooks_left,
                       peak=(int(pi), int(pj)), peak_small=(int(i), int(j)),
                       peak_to_ink=to_ink,
                       all_zero_before_relu=raw_zero, model=model)
    if out_dir is not None:
        demo.saved(save_picture(pixels, cam, y_test[picked], predicted, probs,
                                Path(out_dir) / "grad_cam.png", share),
                   "the heat maps", install="pip install 'chainrule[train]'")
    return demo


def main(argv=None) -> None:
    import argparse
    parser = argparse.ArgumentParser(
        prog="grad_cam.py",
        description="Grad-CAM heat maps of the CNN on MNIST digits, with module hooks")
    parser.add_argument("--out-dir", default=".", help="where to save grad_cam.png "
                        "(default: the current directory)")
    parser.add_argument("--steps", type=positive, default=STEPS,
                        help=f"training steps (default {STEPS})")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint.npz of `chainrule train "
                        "--model cnn`, used instead of training")
    parser.add_argument("--data-dir", default=None, help="folder holding the MNIST files (or a "
                        "parent with mnist/); default: $CHAINRULE_DATA/mnist, then "
                        "~/.cache/chainrule/mnist")
    args = parser.parse_args(argv)
    run(args.out_dir, steps=args.steps, data_dir=args.data_dir, checkpoint=args.checkpoint,
        echo=True)


if __name__ == "__main__":
    main()
