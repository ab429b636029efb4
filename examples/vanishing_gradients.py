"""Vanishing gradients: a 10-layer MLP on MNIST, trained four ways for the same steps.

    h_0 = x,   h_l = act(W_l h_(l−1) + b_l),   ∂L/∂h_(l−1) = W_lᵀ (act'(·) ⊙ ∂L/∂h_l)

Backward through one layer multiplies the gradient by W_lᵀ and by the activation's derivative.
A sigmoid's derivative is at most 1/4, and with PyTorch's default initialisation
(W ~ U(−1/√fan_in, 1/√fan_in), so std 1/√(3 fan_in)) W_lᵀ shrinks it again: the gradient falls
layer after layer toward the input, and the first layers barely learn. tanh's derivative is 1 at
0, so only the small weights shrink it. ReLU's is 1 where the unit is on, and He initialisation
(std √(2/fan_in)) keeps the gradient's size from layer to layer; BatchNorm rescales each layer's
output, and so its gradient, whatever the weights.

The four networks, each 784 → 9 hidden layers of 128 → 10, built from the same seed and trained
on the same batches with the same plain SGD; a ``TrainingMonitor`` records every layer's gradient
norm every 10 steps and says what it diagnoses:

    sigmoid     Linear → Sigmoid, PyTorch's default initialisation
    tanh        Linear → Tanh, PyTorch's default initialisation
    relu_he     Linear → ReLU, weights ~ N(0, 2/fan_in) (nn.init.kaiming_normal_), biases 0
    relu_bn     Linear → BatchNorm1d → ReLU, PyTorch's default initialisation
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

from chainrule.viz.monitor import TrainingMonitor
from chainrule.examples import Demo
from chainrule.examples.mnist_tanh_softmax import load_mnist, one_blas_thread

VERSIONS = ("sigmoid", "tanh", "relu_he", "relu_bn")
TITLE = {"sigmoid": "sigmoid", "tanh": "tanh", "relu_he": "ReLU + He init",
         "relu_bn": "ReLU + BatchNorm"}
COLOR = {"sigmoid": "#c62828", "tanh": "#ef6c00", "relu_he": "#1565c0", "relu_bn": "#2e7d32"}
LAYERS, HIDDEN, STEPS, BATCH_SIZE, LR, EVERY = 10, 128, 300, 64, 0.1, 10
TEST_IMAGES = 2000


def build(version: str, inputs: int = 784, hidden: int = HIDDEN, layers: int = LAYERS,
          classes: int = 10, seed: int = 0) -> nn.Sequential:
    """The ``version`` network (see the module's docstring), its weights drawn from ``seed``."""
    if version not in VERSIONS:
        raise ValueError(f"vanishing_gradients: no version {version!r}; the versions are "
                         f"{', '.join(VERSIONS)}")
    cr.manual_seed(seed)
    sizes = [inputs] + [hidden] * (layers - 1) + [classes]
    parts = []
    for i in range(layers):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        parts.append(linear)
        if version == "relu_he":
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        if i == layers - 1:
            break
        if version == "relu_bn":
            parts.append(nn.BatchNorm1d(sizes[i + 1]))
        parts.append({"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}.get(version, nn.ReLU)())
    return nn.Sequential(*parts)


def accuracy(model, x, y) -> float:
    model.eval()
    with cr.no_grad():
        z = np.asarray(model(cr.from_numpy(x)))
    model.train()
    return float(np.mean(z.argmax(axis=1) == y))


def train(version: str, data, steps: int = STEPS, hidden: int = HIDDEN, lr: float = LR,
          batch_size: int = BATCH_SIZE, seed: int = 0):
    """Plain SGD for ``steps`` steps on batches drawn with ``seed`` (the same for every version);
    returns the monitor, the test accuracy and the seconds it took."""
    x_train, y_train, x_test, y_test = data
    model = build(version, x_train.shape[1], hidden, seed=seed)
    opt = cr.optim.SGD(model.parameters(), lr=lr)
    order = np.random.default_rng(seed + 1)
    perm = np.concatenate([order.permutation(len(x_train))
                           for _ in range(-(-steps * batch_size // len(x_train)))])
    start = time.perf_counter()
    with TrainingMonitor(model, every=EVERY, log=None) as mon:
        for k in range(steps):
            batch = perm[k * batch_size:(k + 1) * batch_size]
            loss = F.cross_entropy(model(cr.from_numpy(x_train[batch])),
                                   cr.from_numpy(y_train[batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            mon.step(loss)
    seconds = time.perf_counter() - start
    return mon, accuracy(model, x_test, y_test), seconds


def linear_norms(mon, step: int) -> list:
    """‖∂L/∂W‖ of each Linear layer at ``step``, the input's first."""
    return [r["grad_norm"] for r in mon.records if r["step"] == step and r["kind"] == "Linear"]


def save_gradient_flow(results: dict, path, steps: tuple, trained: int) -> str | None:
    """‖∂L/∂W‖ per Linear layer for each version, at each of ``steps`` (one panel each, one log
    scale for all), after ``trained`` steps of training; None when Matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return None
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, len(steps), sharey=True)
    for ax, step in zip(np.atleast_1d(axes), steps):
        for version, r in results.items():
            norms = linear_norms(r["monitor"], step)
            ax.plot(range(1, len(norms) + 1), norms, "o-", ms=4, color=COLOR[version],
                    label=f"{TITLE[version]} (test accuracy {100 * r['accuracy']:.0f}%)")
        ax.set_yscale("log")
        ax.set_xticks(range(1, LAYERS + 1))
        ax.set(xlabel="Linear layer (1: next to the input, 10: the output)",
               title="at initialisation (step 0)" if step == 0 else f"after training (step {step})")
        ax.grid(alpha=0.3, which="major")
    np.atleast_1d(axes)[0].set_ylabel("gradient norm ‖∂L/∂W‖ (log scale)")
    np.atleast_1d(axes)[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Vanishing gradients: each layer's gradient norm in a 10-layer MLP on MNIST\n"
                 f"four versions, the same seed and batches; test accuracy after {trained} SGD "
                 "steps", fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from chainrule._io import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return str(path)


def run(out_dir=None, steps: int = STEPS, hidden: int = HIDDEN, lr: float = LR, data_dir=None,
        data=None, seed: int = 0) -> Demo:
    """Train the four versions and compare. ``data``: (x_train, y_train, x_test, y_test) arrays
    to use instead of MNIST (found in ``data_dir``, else $CHAINRULE_DATA, else
    ~/.cache/chainrule)."""
    demo = Demo()
    demo.intro(__doc__)
    if data is None:
        try:
            data = load_mnist(data_dir)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"demo vanishing-gradients needs the MNIST files: {e}") from e
        data = (*data[:2], data[2][:TEST_IMAGES], data[3][:TEST_IMAGES])
        source = "MNIST"
    else:
        source = "the given data"
    x_train, _, x_test, _ = data
    demo.say(f"Data: {source}, {len(x_train)} training images, {len(x_test)} test images. "
             f"Training: SGD lr {lr}, batch {BATCH_SIZE}, {steps} steps, seed {seed}.")
    results = {}
    with one_blas_thread():
        for version in VERSIONS:
            mon, acc, seconds = train(version, data, steps, hidden, lr, seed=seed)
            results[version] = {"monitor": mon, "accuracy": acc, "seconds": seconds}
    first, last = 0, max(r["step"] for r in results["sigmoid"]["monitor"].records)
    norms = {v: linear_norms(r["monitor"], first) for v, r in results.items()}
    norms_last = {v: linear_norms(r["monitor"], last) for v, r in results.items()}
    ratio = {v: n[0] / n[-1] for v, n in norms.items()}
    ratio_last = {v: n[0] / n[-1] for v, n in norms_last.items()}
    acc = {v: r["accuracy"] for v, r in results.items()}

    demo.say("")
    demo.say(f"Gradient norm ‖∂L/∂W‖ of each Linear layer on the first batch (step {first}):")
    demo.say(f"{'layer':<14}" + "".join(f"{TITLE[v]:>18}" for v in VERSIONS))
    for i in range(len(norms["sigmoid"])):
        where = " (input)" if i == 0 else " (output)" if i == len(norms["sigmoid"]) - 1 else ""
        demo.say(f"{str(i + 1) + where:<14}" + "".join(f"{norms[v][i]:18.2e}" for v in VERSIONS))
    demo.say(f"{'first/last':<14}" + "".join(f"{ratio[v]:18.2e}" for v in VERSIONS))
    demo.say(f"{'  at step ' + str(last):<14}" + "".join(f"{ratio_last[v]:18.2e}"
                                                        for v in VERSIONS))
    demo.say(f"{'test accuracy':<14}" + "".join(f"{100 * acc[v]:17.1f}%" for v in VERSIONS))
    demo.say(f"(test accuracy after {steps} steps, on {len(x_test)} test images; training took "
             + ", ".join(f"{results[v]['seconds']:.1f} s" for v in VERSIONS) + ")")
    demo.say("")
    demo.say(f"With sigmoids the first layer gets {ratio['sigmoid']:.1e} of the last layer's "
             f"gradient; with ReLU and He initialisation {ratio['relu_he']:.2g}.")
    demo.say("")
    demo.say("What the monitor diagnosed:")
    for v in VERSIONS:
        found = results[v]["monitor"].diagnoses
        demo.say(f"  {TITLE[v]}:" + (" nothing" if not found else ""))
        for d in found:
            demo.say(f"    {d.message}")
    if "large_updates" in [d.kind for d in results["relu_bn"]["monitor"].diagnoses]:
        demo.say("  (BatchNorm undoes the scale of the Linear layer before it, so there a large "
                 "update changes the output less than the ratio suggests.)")
    demo.values.update(
        norms=norms, norms_last=norms_last, ratio=ratio, ratio_last=ratio_last, accuracy=acc,
        diagnoses={v: [d.kind for d in r["monitor"].diagnoses] for v, r in results.items()},
        monitors={v: r["monitor"] for v, r in results.items()}, last_step=last)
    if out_dir is not None:
        demo.saved(save_gradient_flow(results, Path(out_dir) / "gradient_flow.png",
                                      (first, last), steps), "the gradient norms per layer")
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("vanishing-gradients")
