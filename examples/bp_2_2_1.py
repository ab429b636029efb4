"""The 2-2-1 sigmoid network without biases, one sample, step size 1.

    h = σ(W0 x),  out = σ(W1 h),  E = ½(target − out)²
    x = (0.35, 0.9), target 0.5, W0 = [[0.1, 0.8], [0.4, 0.6]], W1 = [[0.3, 0.9]]

The deltas are the gradients of E with respect to each layer's pre-activation:
δ2 = (out − target)·out(1 − out) and δ1 = (W1ᵀ δ2) ⊙ h(1 − h); the weight gradients are
∂E/∂W1 = δ2 hᵀ and ∂E/∂W0 = δ1 xᵀ.

The widely copied NumPy version of this example computes the hidden delta as
``(l2_delta * W1) * l1 * (1 - l1)``: a (1, 2) row times a (2, 1) column, which NumPy broadcasts to
a (2, 2) matrix, so ``W0 += l0.T.dot(l1_delta)`` adds the same wrong (1 × 2) row to both rows of
W0. The output still falls, so nothing looks wrong; gradient checking catches it.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.autograd import Function
from chainrule.autograd.check import check_graph

from chainrule.examples import Demo

X = np.array([[0.35], [0.9]])
TARGET = 0.5
W0 = np.array([[0.1, 0.8], [0.4, 0.6]])
W1 = np.array([[0.3, 0.9]])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def copied_numpy(iterations: int = 100):
    """The widely copied NumPy code, as it is usually written; returns the weights after each
    iteration's update and the errors."""
    x, y = X, np.array([[TARGET]])
    w0, w1 = W0.copy(), W1.copy()
    errors, updates = [], []
    for _ in range(iterations):
        l0 = x
        l1 = sigmoid(np.dot(w0, l0))
        l2 = sigmoid(np.dot(w1, l1))
        l2_error = y - l2
        errors.append((0.5 * (y - l2) ** 2).item())
        l2_delta = l2_error * l2 * (1 - l2)
        l1_error = l2_delta * w1                 # (1, 2): the weights as a row...
        l1_delta = l1_error * l1 * (1 - l1)      # ...times a (2, 1) column: broadcast to (2, 2)
        updates.append(l0.T.dot(l1_delta))       # (1, 2)
        w1 += l2_delta * l1.T
        w0 += l0.T.dot(l1_delta)                 # the same row added to both rows of W0
    return w0, w1, errors, updates


class CopiedBackprop(Function):
    """E(W0, W1) with the copied code's hand-written backward: wrong for W0."""

    op = "copied_backprop"

    @staticmethod
    def forward(ctx, w0, w1, x, target):
        l1 = sigmoid(w0 @ x)
        l2 = sigmoid(w1 @ l1)
        ctx.save_for_backward(x, l1, l2, w1, target)
        return 0.5 * (target - l2) ** 2

    @staticmethod
    def backward(ctx, grad_output):
        x, l1, l2, w1, target = ctx.saved
        l2_delta = (target - l2) * l2 * (1 - l2)   # −∂E/∂net2
        l1_delta = (l2_delta * w1) * l1 * (1 - l1)  # the bug: (1, 2) * (2, 1) -> (2, 2)
        d_w0 = -np.broadcast_to(x.T @ l1_delta, (2, 2))  # W0 += x.T @ l1_delta is W0 -= d_w0
        d_w1 = -(l2_delta * l1.T)
        return grad_output * d_w0, grad_output * d_w1, None, None


class HandBackprop(CopiedBackprop):
    """The same, with the hidden delta computed right: (W1ᵀ δ2) ⊙ h(1 − h)."""

    op = "hand_backprop"

    @staticmethod
    def backward(ctx, grad_output):
        x, l1, l2, w1, target = ctx.saved
        delta2 = (l2 - target) * l2 * (1 - l2)       # ∂E/∂net2
        delta1 = (w1.T @ delta2) * l1 * (1 - l1)     # ∂E/∂net1, (2, 1)
        return grad_output * (delta1 @ x.T), grad_output * (delta2 @ l1.T), None, None


def forward(w0, w1, x):
    net1 = w0 @ x
    h = net1.sigmoid()
    net2 = w1 @ h
    out = net2.sigmoid()
    error = 0.5 * ((TARGET - out) ** 2).sum()
    return error, {"x": x, "W0": w0, "W1": w1, "net1": net1, "h": h, "net2": net2, "out": out}


def train(iterations: int = 100, lr: float = 1.0, log=None):
    """Gradient descent with autograd; the deltas are the gradients of the pre-activations."""
    x = cr.tensor(X)
    w0 = cr.tensor(W0, requires_grad=True)
    w1 = cr.tensor(W1, requires_grad=True)
    history = []
    for it in range(1, iterations + 1):
        error, t = forward(w0, w1, x)
        t["net1"].retain_grad()
        t["net2"].retain_grad()
        error.backward()
        row = {"error": error.item(), "out": t["out"].item(), "delta2": t["net2"].grad.numpy().copy(),
               "delta1": t["net1"].grad.numpy().copy(), "dW0": w0.grad.numpy().copy(),
               "dW1": w1.grad.numpy().copy()}
        history.append(row)
        if log:
            log(it, row)
        with cr.no_grad():
            w0.sub_(lr * w0.grad)
            w1.sub_(lr * w1.grad)
        w0.grad = w1.grad = None
    return w0.data, w1.data, history


def run(out_dir=None, iterations: int = 100) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip().split("\n\n")[0] + "\n")

    error, t = forward(cr.tensor(W0, requires_grad=True), cr.tensor(W1, requires_grad=True),
                       cr.tensor(X))
    error.backward()
    say("The first iteration, step by step:")
    say(cr.viz.explain(error, names={**t, "E": error}, format="steps").text())

    def log(it, row):
        if it <= 3 or it % 10 == 0:
            say(f"  {it:3d}  E = {row['error']:.6g}  out = {row['out']:.6f}  "
                f"δ2 = {row['delta2'].item():+.6f}  δ1 = {np.round(row['delta1'].ravel(), 6)}")

    say(f"\nTraining, step size 1 ({iterations} iterations; every 10th shown):")
    w0, w1, history = train(iterations, log=log)
    demo.values.update(first=history[0], last=history[-1], W0=w0, W1=w1,
                       errors=[r["error"] for r in history])
    say(f"W0 = {np.round(w0, 6).tolist()}\nW1 = {np.round(w1, 6).tolist()}")

    say("\nThe widely copied NumPy version:")
    cw0, cw1, errors, updates = copied_numpy(iterations)
    right = -history[0]["dW0"]
    say(f"  its first update of W0 (l0.T.dot(l1_delta), shape {updates[0].shape}): "
        f"{np.round(updates[0], 6).tolist()}, added to both rows")
    say(f"  the right update −∂E/∂W0 = −δ1 xᵀ (2 × 2): {np.round(right, 6).tolist()}")
    say(f"  its error after {iterations} iterations: {errors[-1]:.3g} "
        f"(right: {history[-1]['error']:.3g}): falling too, so nothing looks wrong")
    demo.values.update(copied_update=updates[0], copied_errors=errors)

    say("\nGradient checking catches it: the copied backward as a Function, against finite "
        "differences")
    x, target = X, np.array([[TARGET]])
    params = (cr.tensor(W0, requires_grad=True), cr.tensor(W1, requires_grad=True))
    for cls in (HandBackprop, CopiedBackprop):
        ok = cr.autograd.gradcheck(lambda a, b: cls.apply(a, b, x, target).sum(), params,
                                   raise_exception=False)
        report = check_graph(cls.apply(*params, x, target).sum())
        demo.values[f"gradcheck_{cls.op}"] = ok
        demo.values[f"check_graph_{cls.op}"] = report
        say(f"  {cls.__name__}: gradcheck {'passes' if ok else 'FAILS'}")
        if report:
            say("  " + str(report).replace("\n", "\n  "))
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("bp-2-2-1")
