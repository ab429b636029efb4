"""Newton's method on least squares: the Hessian by autograd, and one step to the answer.

    f(x) = ½‖Ax − b‖²,   ∇f(x) = Aᵀ(Ax − b),   ∇²f(x) = AᵀA

The gradient found with ``create_graph=True`` is itself a graph, so autograd can differentiate it
again: row i of the Hessian is grad(∇f(x)_i, x). f is quadratic, so its second-order Taylor
expansion is exact and Newton's step x₁ = x₀ − [∇²f(x₀)]⁻¹ ∇f(x₀) lands on the minimum: from
x₀ = 0 it is (AᵀA)⁻¹Aᵀb, the normal equations' solution. Gradient descent needs many steps.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

from chainrule.examples import Demo
from chainrule.examples.jacobians import matrix, side_by_side
from chainrule.examples.linear_regression import loss, problem


def gradient(A, b, x, create_graph: bool = False):
    """∇f(x) by autograd."""
    return cr.autograd.grad(loss(A, x, b), x, create_graph=create_graph)[0]


def hessian(A, b, x) -> np.ndarray:
    """∇²f(x) by autograd, row by row: the gradient of each entry of the gradient."""
    g = gradient(A, b, x, create_graph=True)
    return np.stack([cr.autograd.grad(g[i], x, retain_graph=True)[0].data
                     for i in range(x.shape[0])])


def gradient_descent(A, b, x_star, tol: float = 1e-10, limit: int = 10_000):
    """Steps of size 1/L from 0 until every entry is within ``tol`` of x_star; the count and f
    after each step."""
    step = 1 / np.linalg.norm(A.data, 2) ** 2
    x = cr.zeros(A.shape[1], dtype=cr.float64, requires_grad=True)
    losses = []
    while np.abs(x.data - x_star).max() >= tol and len(losses) < limit:
        g = gradient(A, b, x)
        with cr.no_grad():
            x.sub_(step * g)
            losses.append(loss(A, x, b).item())
    return len(losses), losses


def run(out_dir=None) -> Demo:
    demo = Demo()
    say = demo.say
    demo.intro(__doc__)
    A_np, b_np = problem()
    m, n = A_np.shape
    A, b = cr.tensor(A_np), cr.tensor(b_np)
    say(f"The problem of linear-regression: A is {m}×{n}, b = A · [1.5, −2, 0.5] + noise "
        f"(seed 0).")
    x0 = cr.zeros(n, dtype=cr.float64, requires_grad=True)

    H = hessian(A, b, x0)
    AtA = A_np.T @ A_np
    say("")
    say("The Hessian: g = grad(f, x, create_graph=True), then row i = grad(g_i, x).")
    side_by_side(say, ["autograd ∇²f(0)", "AᵀA"], [H, AtA])
    say(f"  largest difference: {np.abs(H - AtA).max():.1e}")

    g0 = gradient(A, b, x0).data
    x1 = x0.data - np.linalg.solve(H, g0)
    x_ls = np.linalg.lstsq(A_np, b_np, rcond=None)[0]
    x1_t = cr.tensor(x1, requires_grad=True)
    g1 = gradient(A, b, x1_t).data
    say("")
    say("One Newton step from x₀ = 0:  x₁ = x₀ − [∇²f(x₀)]⁻¹ ∇f(x₀)")
    say(f"  ∇f(x₀)          = {matrix(g0)[0]}")
    say(f"  x₁              = {matrix(x1, 12)[0]}")
    say(f"  np.linalg.lstsq = {matrix(x_ls, 12)[0]}")
    say(f"  largest difference {np.abs(x1 - x_ls).max():.1e};  ∇f(x₁) = "
        f"[{', '.join(f'{v:.1e}' for v in g1)}]: zero, to rounding")
    say(f"  f(x₀) = {loss(A_np, x0.data, b_np):.6f},  f(x₁) = {loss(A_np, x1, b_np):.6f}")

    eigenvalues = np.linalg.eigvalsh(AtA)
    rate = 1 - eigenvalues[0] / eigenvalues[-1]
    steps, losses = gradient_descent(A, b, x_ls)
    say("")
    say(f"Gradient descent from the same x₀, step 1/L with L = λ_max(AᵀA) = "
        f"{eigenvalues[-1]:.2f}:")
    for k in sorted({0, 1, 9, steps // 2 - 1}):
        say(f"  step {k + 1:3d}: f = {losses[k]:.12f}")
    say(f"  step {steps:3d}: f = {losses[-1]:.12f}, the first within 1e-10 of lstsq in every "
        f"entry")
    say(f"The eigenvalues of AᵀA are {', '.join(f'{v:.2f}' for v in eigenvalues)}. Along the "
        f"smallest one's eigenvector")
    say(f"the error shrinks by 1 − λ_min/λ_max = {rate:.4f} per step: ten times smaller every "
        f"{np.log(0.1) / np.log(rate):.1f} steps.")
    say("Newton's step divides each direction by its own eigenvalue (that is H⁻¹), so it corrects")
    say(f"them all at once: one step, for the price of the {n}×{n} Hessian and a linear solve.")
    demo.values.update(hessian=H, AtA=AtA, grad0=g0, x1=x1, x_lstsq=x_ls, grad1=g1,
                       eigenvalues=eigenvalues, rate=rate, gd_steps=steps, gd_losses=losses)
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("newton")
