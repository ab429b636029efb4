"""A tanh hidden layer and a softmax output on real MNIST: the squared loss, then cross-entropy.

    hidden = tanh(x · W0 + b0)          x: (N, 784) pixels in [0, 1]; W0: (784, H)
    output = softmax(hidden · W1 + b1)  W1: (H, 10); one probability per digit

The issue writes the network as softmax(tanh(x + b0) · W1 + b1); we read "x + b0" as the hidden
layer's affine map x · W0 + b0 (a bias alone, with no weights, could not learn features), which is
the classic one-hidden-layer tutorial network. It is built from the tensor ops themselves
(matmul, add, tanh, softmax), not from nn.Linear, so that the graph is the derivation.

It is trained twice from the same initial weights (W ~ N(0, 1/fan_in), b = 0, seed 0) on the same
shuffled batches, with plain SGD (batch 64):

    A. the squared loss, as the classic tutorial builds it:
       L = ½ Σ_j (output_j − onehot_j)², averaged over the batch
         = F.mse_loss(output, onehot, reduction="sum") / 2 / N;        learning rate 2.0
    B. cross-entropy on the logits z = hidden · W1 + b1:
       L = −log softmax(z)_label, averaged = F.cross_entropy(z, label); learning rate 0.5

Each learning rate is the best stable one of a sweep (0.1 to 4 for the squared loss, 0.05 to 2
for cross-entropy) on the first 20,000 training images for two epochs; the next step up (3 for the
squared loss, 1 for cross-entropy) makes the loss jump up in the first epoch. The squared loss
learns slower, even with a four times larger step: its gradient at the logits carries the
softmax's Jacobian, which vanishes when the output saturates; cross-entropy's is output − target.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F

from chainrule.examples import Demo, positive

LR = {"squared": 2.0, "cross_entropy": 0.5}
TITLE = {"squared": "squared loss", "cross_entropy": "cross-entropy"}
EPOCHS, HIDDEN, BATCH_SIZE = 5, 100, 64


# -- data and the network -------------------------------------------------------------------------

def load_mnist(data_dir=None, limit: int | None = None):
    """(x_train, y_train, x_test, y_test): images flattened to float32 (N, 784) in [0, 1], labels
    int64; ``limit`` keeps the first ``limit`` images of each split."""
    split = [cr.datasets.MNIST(root=data_dir, train=train) for train in (True, False)]
    arrays = []
    for ds in split:
        images, labels = np.asarray(ds.data)[:limit], np.asarray(ds.targets)[:limit]
        x = images.reshape(len(images), -1).astype(np.float32) / 255
        arrays += [x, labels.astype(np.int64)]
    return tuple(arrays)


def init(inputs: int, hidden: int, classes: int = 10, seed: int = 0, dtype=np.float32):
    """W0 (inputs, hidden), b0, W1 (hidden, classes), b1: W ~ N(0, 1/fan_in), b = 0."""
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((inputs, hidden)) / math.sqrt(inputs)
    w1 = rng.standard_normal((hidden, classes)) / math.sqrt(hidden)
    return [a.astype(dtype) for a in (w0, np.zeros(hidden), w1, np.zeros(classes))]


def logits(params, x):
    """z = tanh(x · W0 + b0) · W1 + b1; the output is softmax(z)."""
    w0, b0, w1, b1 = params
    hidden = (x @ w0 + b0).tanh()
    return hidden @ w1 + b1


def squared_loss(z, target):
    """½ Σ_j (softmax(z)_j − onehot_j)², averaged over the batch of N rows."""
    output = z.softmax(dim=1)
    onehot = F.one_hot(target, z.shape[1]).to(output.dtype)
    return F.mse_loss(output, onehot, reduction="sum") / 2 / z.shape[0]


def cross_entropy_loss(z, target):
    """−log softmax(z)_target, averaged over the batch."""
    return F.cross_entropy(z, target)


LOSSES = {"squared": squared_loss, "cross_entropy": cross_entropy_loss}


def accuracy(params, x, y) -> float:
    with cr.no_grad():
        z = logits(params, cr.from_numpy(x))
    return float(np.mean(np.asarray(z).argmax(axis=1) == y))


# -- what the math says ---------------------------------------------------------------------------

def logit_gradients(z: np.ndarray, y: np.ndarray) -> dict:
    """{loss: (∂L/∂z by autograd, ∂L/∂z by the formula)} in float64, for a batch of logits z
    (N, C) and labels y (N,): squared, (p − y) · J / N row by row, with the softmax's Jacobian
    J = diag(p) − p pᵀ; cross-entropy, (p − y) / N."""
    z = np.asarray(z, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(z.shape[1])[y]
    r = p - onehot
    jacobian = np.einsum("nj,jk->njk", p, np.eye(z.shape[1])) - np.einsum("nj,nk->njk", p, p)
    formula = {"squared": np.einsum("nj,njk->nk", r, jacobian) / len(z),
               "cross_entropy": r / len(z)}
    out = {}
    for name, loss_fn in LOSSES.items():
        zt = cr.tensor(z, requires_grad=True)
        loss_fn(zt, cr.from_numpy(y)).backward()
        out[name] = (zt.grad.data, formula[name])
    return out


# -- training -------------------------------------------------------------------------------------

def one_blas_thread():
    """A context using one BLAS thread (where threadpoolctl is installed): batches of 64 through
    a 784-100-10 network are too small for threads to pay off, and on a busy machine two threads
    were ten times slower than one."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train(loss: str, data, hidden: int = HIDDEN, epochs: int = EPOCHS, lr: float | None = None,
          batch_size: int = BATCH_SIZE, seed: int = 0, evals_per_epoch: int = 4,
          log=None) -> dict:
    """Plain SGD on ``LOSSES[loss]``; returns the per-step and per-epoch losses, the test accuracy
    after each epoch (index 0: before training) and at ``evals_per_epoch`` points of each epoch.
    ``log``: called with a line after each epoch."""
    x_train, y_train, x_test, y_test = data
    params = [cr.tensor(a, requires_grad=True) for a in init(x_train.shape[1], hidden, seed=seed)]
    opt = cr.optim.SGD(params, lr=LR[loss] if lr is None else lr)
    loss_fn = LOSSES[loss]
    order = np.random.default_rng(seed + 1)  # the same batches for both losses
    steps = math.ceil(len(x_train) / batch_size)
    eval_at = {round(steps * (k + 1) / evals_per_epoch) - 1 for k in range(evals_per_epoch)}
    h = {"step_loss": [], "epoch_loss": [], "test_acc": [accuracy(params, x_test, y_test)]}
    h["curve"] = [(0.0, h["test_acc"][0])]
    start = time.perf_counter()
    for epoch in range(epochs):
        perm = order.permutation(len(x_train))
        for k in range(steps):
            batch = perm[k * batch_size:(k + 1) * batch_size]
            z = logits(params, cr.from_numpy(x_train[batch]))
            value = loss_fn(z, cr.from_numpy(y_train[batch]))
            opt.zero_grad()
            value.backward()
            opt.step()
            h["step_loss"].append(value.item())
            if k in eval_at:
                h["curve"].append((epoch + (k + 1) / steps, accuracy(params, x_test, y_test)))
        h["epoch_loss"].append(float(np.mean(h["step_loss"][-steps:])))
        h["test_acc"].append(h["curve"][-1][1])
        if log:
            log(f"  {TITLE[loss]}, epoch {epoch + 1}: train loss {h['epoch_loss'][-1]:.4f}, "
                f"test accuracy {100 * h['test_acc'][-1]:.2f}% "
                f"({time.perf_counter() - start:.1f} s)")
    h["seconds"] = time.perf_counter() - start
    return h


def save_curves(histories: dict, path) -> str | None:
    """Training loss per step (a running mean) and test accuracy for both losses, side by side;
    None when Matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return None
    fig = Figure(figsize=(10, 3.6), layout="tight")
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = {"squared": "#c62828", "cross_entropy": "#1565c0"}
    for name, h in histories.items():
        losses = np.asarray(h["step_loss"])
        width = max(1, min(50, len(losses) // 20))
        smooth = np.convolve(losses, np.ones(width) / width, mode="valid")
        steps_per_epoch = len(losses) / max(len(h["epoch_loss"]), 1)
        ax_loss.plot((np.arange(len(smooth)) + width) / steps_per_epoch, smooth,
                     color=colors[name], label=f"{TITLE[name]} (its own loss)")
        epoch, acc = zip(*h["curve"])
        ax_acc.plot(epoch, 100 * np.asarray(acc), marker="o", ms=3, color=colors[name],
                    label=TITLE[name])
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log",
                title="softmax(tanh(x·W0 + b0)·W1 + b1): training loss")
    trained = [a for h in histories.values() for _, a in h["curve"][1:]] or [0]
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy",
               ylim=(max(0, 100 * min(trained) - 5), 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)


# -- the demo -------------------------------------------------------------------------------------

WHY = """\
Why the squared loss learns slower through a softmax
  With p = softmax(z), the chain rule to the logits goes through the softmax's Jacobian
  ∂p_j/∂z_k = p_j (δ_jk − p_k). For L = ½ Σ_j (p_j − y_j)² that gives
      ∂L/∂z_k = Σ_j (p_j − y_j) p_j (δ_jk − p_k) = p_k [(p_k − y_k) − Σ_j p_j (p_j − y_j)]
  Every term carries a factor p: when the output saturates (one p_j near 1, the others near 0)
  the gradient vanishes, even when the confident answer is wrong. For cross-entropy
  L = −Σ_j y_j log p_j the log cancels the softmax's exponential and ∂L/∂z = p − y: the more
  wrong the output, the larger the push."""


def run(out_dir=None, epochs: int = EPOCHS, hidden: int = HIDDEN, data_dir=None,
        limit: int | None = None, data=None, lr_squared: float = LR["squared"],
        lr_cross_entropy: float = LR["cross_entropy"], batch_size: int = BATCH_SIZE,
        seed: int = 0, echo: bool = False) -> Demo:
    """Train with both losses and compare. ``data``: (x_train, y_train, x_test, y_test) arrays to
    use instead of MNIST (the tests pass small generated ones). ``echo``: also print each line as
    it is said, for a long run at the command line."""
    demo = Demo()

    def say(*parts):
        demo.say(*parts)
        if echo:
            print(demo.lines[-1], flush=True)

    say(__doc__.strip().split("\n\n")[0])
    say("")
    if data is None:
        data = load_mnist(data_dir, limit)
        source = "MNIST"
    else:
        source = "the given data"
    x_train, y_train, x_test, y_test = data
    lrs = {"squared": lr_squared, "cross_entropy": lr_cross_entropy}
    say(f"Data: {len(x_train)} training and {len(x_test)} test images of {source}, "
        f"{x_train.shape[1]} inputs.")
    say(f"Network: {x_train.shape[1]}-{hidden}-10, hidden = tanh(x · W0 + b0), "
        f"output = softmax(hidden · W1 + b1);")
    say(f"  W ~ N(0, 1/fan_in), b = 0, seed {seed}: the same initial weights for both losses.")
    say(f"Training: plain SGD, batch {batch_size}, {epochs} epoch{'s' * (epochs != 1)}, the same "
        f"shuffled batches for both;")
    say(f"  A. squared loss F.mse_loss(output, onehot, reduction='sum') / 2 / N, learning rate "
        f"{lr_squared}")
    say(f"  B. cross-entropy F.cross_entropy(logits, labels), learning rate {lr_cross_entropy}")
    say("")
    say(WHY)

    # the first batch, at the initial weights: autograd against the formulas
    params = [cr.tensor(a.astype(np.float64)) for a in init(x_train.shape[1], hidden, seed=seed)]
    first = np.random.default_rng(seed + 1).permutation(len(x_train))[:batch_size]
    z0 = logits(params, cr.tensor(x_train[first], dtype=cr.float64)).data
    grads = logit_gradients(z0, y_train[first])
    errors = {k: float(np.max(np.abs(a - f))) for k, (a, f) in grads.items()}
    norms = {k: float(np.linalg.norm(a)) for k, (a, _) in grads.items()}
    say("")
    say("  On the first batch, at the initial weights, p ≈ 1/10 everywhere, so the squared")
    say(f"  loss's gradient is about (p − y)/10: ‖∂L/∂z‖ = {norms['squared']:.4g} against "
        f"{norms['cross_entropy']:.4g} for cross-entropy")
    say(f"  (ratio {norms['squared'] / norms['cross_entropy']:.3f}). Autograd's ∂L/∂z there "
        f"equals (p − y) · J / N with J = diag(p) − p pᵀ")
    say(f"  (largest difference {errors['squared']:.1e}) and (p − y) / N for cross-entropy "
        f"(largest difference {errors['cross_entropy']:.1e}).")
    wrong = np.zeros((1, 10))
    wrong[0, 3] = 8.0  # confident in 3; the label is 7
    saturated = logit_gradients(wrong, np.array([7]))
    g_sq, g_ce = saturated["squared"][0], saturated["cross_entropy"][0]
    say(f"  A confidently wrong output, logit 8 for a 3 (p_3 = {np.exp(8) / (np.exp(8) + 9):.4f})"
        f" when the label is 7:")
    say(f"  ∂L/∂z_7 = {g_sq[0, 7]:.4g} with the squared loss, {g_ce[0, 7]:.4g} with "
        f"cross-entropy ({g_ce[0, 7] / g_sq[0, 7]:.0f} times as large).")
    demo.values.update(grad_errors=errors, grad_norms=norms,
                       saturated={"squared": float(g_sq[0, 7]),
                                  "cross_entropy": float(g_ce[0, 7])})

    histories = {}
    if echo:
        print("\nTraining, A then B:", flush=True)
    with one_blas_thread():
        for name in LOSSES:
            histories[name] = train(name, data, hidden, epochs, lrs[name], batch_size, seed,
                                    log=(lambda line: print(line, flush=True)) if echo else None)
    sq, ce = histories["squared"], histories["cross_entropy"]
    say("")
    say(f"{'':7}{'squared loss':>28}   {'cross-entropy':>28}")
    say(f"{'epoch':<7}{'train loss':>14}{'test acc':>14}   {'train loss':>14}{'test acc':>14}")
    for e in range(epochs + 1):
        loss = [f"{h['epoch_loss'][e - 1]:14.4f}" if e else f"{'':14}" for h in (sq, ce)]
        say(f"{e:<7}{loss[0]}{100 * sq['test_acc'][e]:13.2f}%   "
            f"{loss[1]}{100 * ce['test_acc'][e]:13.2f}%")
    say(f"(train loss: the mean over the epoch, each of its own loss; test accuracy: the "
        f"{len(x_test)} test images)")
    say("")
    say(f"After {epochs} epoch{'s' * (epochs != 1)} ({len(sq['step_loss'])} steps each): test "
        f"accuracy {100 * sq['test_acc'][-1]:.2f}% with the squared loss,")
    say(f"  {100 * ce['test_acc'][-1]:.2f}% with cross-entropy; {sq['seconds']:.1f} s and "
        f"{ce['seconds']:.1f} s of training.")
    ahead = sum(c >= q for q, c in zip(sq["test_acc"][1:], ce["test_acc"][1:]))
    say(f"Cross-entropy's test accuracy was at least the squared loss's after {ahead} of "
        f"{epochs} epoch{'s' * (epochs != 1)}.")
    reached = {k: next((e for e, a in h["curve"] if a >= 0.9), None) for k, h in histories.items()}
    if all(e is not None for e in reached.values()):
        say(f"90% test accuracy was first reached at epoch {reached['squared']:.2f} with the "
            f"squared loss,")
        say(f"  at epoch {reached['cross_entropy']:.2f} with cross-entropy (the test set is scored "
            f"every quarter epoch).")
    demo.values.update(
        epoch_loss={k: h["epoch_loss"] for k, h in histories.items()},
        test_acc={k: h["test_acc"] for k, h in histories.items()},
        step_loss={k: h["step_loss"] for k, h in histories.items()},
        curve={k: h["curve"] for k, h in histories.items()},
        seconds={k: h["seconds"] for k, h in histories.items()}, reached_90=reached,
        lr=lrs)
    if out_dir is not None:
        demo.saved(save_curves(histories, Path(out_dir) / "mnist_tanh_softmax.png"), "the curves")
    return demo


def main(argv=None) -> None:
    import argparse
    parser = argparse.ArgumentParser(
        prog="mnist_tanh_softmax.py",
        description="softmax(tanh(x·W0 + b0)·W1 + b1) on MNIST: the squared loss, then "
                    "cross-entropy")
    parser.add_argument("--out-dir", default=".", help="where to save mnist_tanh_softmax.png "
                        "(default: the current directory)")
    parser.add_argument("--epochs", type=positive, default=EPOCHS, help=f"default {EPOCHS}")
    parser.add_argument("--hidden", type=positive, default=HIDDEN,
                        help=f"hidden units, default {HIDDEN}")
    parser.add_argument("--data-dir", default=None, help="folder holding the MNIST files (or a "
                        "parent with mnist/); default: $CHAINRULE_DATA/mnist, then "
                        "~/.cache/chainrule/mnist")
    parser.add_argument("--limit", type=positive, default=None,
                        help="use only the first N training and N test images")
    parser.add_argument("--lr-squared", type=float, default=LR["squared"])
    parser.add_argument("--lr-cross-entropy", type=float, default=LR["cross_entropy"])
    args = parser.parse_args(argv)
    run(args.out_dir, epochs=args.epochs, hidden=args.hidden, data_dir=args.data_dir,
        limit=args.limit, lr_squared=args.lr_squared, lr_cross_entropy=args.lr_cross_entropy,
        echo=True)


if __name__ == "__main__":
    main()
