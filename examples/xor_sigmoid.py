"""XOR with a sigmoid network, as in "A neural network in 11 lines of Python".

    inputs [[0,0,1], [0,1,1], [1,0,1], [1,1,1]] (the third column is a constant: the bias),
    targets [0, 1, 1, 0]
    l1 = σ(X W0) (four hidden units),  l2 = σ(l1 W1),  loss = Σ (l2 − y)²

Full-batch gradient descent with step size 1 for 1,500 iterations: the loss falls at every step
and the predictions approach 0, 1, 1, 0.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

from chainrule.examples import Demo
from chainrule.examples._plot import save_plot

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def init(seed: int = 0):
    """Weights uniform in [-1, 1), as the original (2 * random - 1)."""
    rng = np.random.default_rng(seed)
    return 2 * rng.random((3, 4)) - 1, 2 * rng.random((4, 1)) - 1


def forward(w0, w1, x, y):
    l1 = (x @ w0).sigmoid()
    l2 = (l1 @ w1).sigmoid()
    loss = ((l2 - y) ** 2).sum()
    return loss, {"X": x, "y": y, "W0": w0, "W1": w1, "l1": l1, "l2": l2, "loss": loss}


def train(iterations: int = 1500, lr: float = 1.0, seed: int = 0):
    a, b = init(seed)
    w0, w1 = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    x, y = cr.tensor(X), cr.tensor(Y)
    losses = []
    for _ in range(iterations):
        loss, t = forward(w0, w1, x, y)
        loss.backward()
        losses.append(loss.item())
        with cr.no_grad():
            w0.sub_(lr * w0.grad)
            w1.sub_(lr * w1.grad)
        w0.grad = w1.grad = None
    with cr.no_grad():
        _, t = forward(w0, w1, x, y)
    return losses, t["l2"].detach().numpy().ravel()


def run(out_dir=None, iterations: int = 1500) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip().split("\n\n")[0] + "\n")
    a, b = init()
    loss, t = forward(cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True),
                      cr.tensor(X), cr.tensor(Y))
    loss.backward()
    say("The first iteration's backward pass:")
    say(cr.viz.explain(loss, names=t, precision=3, format="steps").text())

    losses, predictions = train(iterations)
    falls = bool(np.all(np.diff(losses) < 0))
    demo.values.update(losses=losses, predictions=predictions, monotonic=falls)
    say(f"\nGradient descent, step size 1, {iterations} iterations:")
    for k in (0, 9, 99, 499, 999, iterations - 1):
        say(f"  iteration {k + 1:5d}: loss {losses[k]:.6f}")
    say(f"The loss fell at every step: {falls}")
    targets = Y.ravel().astype(int).tolist()
    say(f"Predictions: {np.round(predictions, 3).tolist()} (targets {targets})")
    save_plot(demo, losses, out_dir, "xor_sigmoid_loss.png", "XOR: Σ (l2 − y)²")
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("xor-sigmoid")
