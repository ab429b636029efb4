"""Least squares by gradient descent.

    f(x) = ½‖Ax − b‖²,   ∇f(x) = Aᵀ(Ax − b)

Autograd finds the same gradient as the formula (the matmul's backward is exactly "Aᵀ @"), and
gradient descent with step 1/L (L = ‖A‖², the largest eigenvalue of AᵀA) converges to the
closed-form solution that ``np.linalg.lstsq`` computes.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

from chainrule.examples import Demo
from chainrule.examples._plot import save_plot


def problem(m: int = 20, n: int = 3, seed: int = 0):
    """A small seeded least-squares problem: A (m×n), b = A x_true + noise."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ np.array([1.5, -2.0, 0.5])[:n] + 0.1 * rng.standard_normal(m)
    return A, b


def loss(A, x, b):
    r = A @ x - b
    return 0.5 * (r ** 2).sum()


def run(out_dir=None, iterations: int = 300) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip().split("\n\n")[0] + "\n")
    A_np, b_np = problem()
    A, b = cr.tensor(A_np), cr.tensor(b_np)
    x = cr.zeros(A_np.shape[1], dtype=cr.float64, requires_grad=True)

    f = loss(A, x, b)
    f.backward()
    say("The chain rule at x = 0:")
    say(cr.viz.explain(f, names={"A": A, "x": x, "b": b}, precision=3, format="steps").text())
    formula = A_np.T @ (A_np @ x.data - b_np)
    demo.values["grad_error"] = float(np.abs(x.grad.data - formula).max())
    say(f"\nautograd ∇f(0) = {np.round(x.grad.data, 4)};  Aᵀ(Ax − b) = {np.round(formula, 4)}")

    step = 1 / np.linalg.norm(A_np, 2) ** 2
    losses = []
    for _ in range(iterations):
        x.grad = None
        f = loss(A, x, b)
        f.backward()
        losses.append(f.item())
        with cr.no_grad():
            x.sub_(step * x.grad)
    x_ls = np.linalg.lstsq(A_np, b_np, rcond=None)[0]
    demo.values.update(x=x.detach().numpy().copy(), x_lstsq=x_ls, losses=losses)
    say(f"\nGradient descent, step 1/L = {step:.4f}, {iterations} iterations:")
    for k in (0, 1, 2, 9, 49, iterations - 1):
        say(f"  iteration {k + 1:4d}: f = {losses[k]:.6f}")
    say(f"x (gradient descent) = {np.round(x.data, 6)}")
    say(f"x (np.linalg.lstsq)  = {np.round(x_ls, 6)}")
    say(f"largest difference: {np.abs(x.data - x_ls).max():.2e}")
    save_plot(demo, losses, out_dir, "linear_regression_loss.png",
              "½‖Ax − b‖² by gradient descent")
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("linear-regression")
