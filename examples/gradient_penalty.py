"""A WGAN-GP critic: a loss that holds a gradient, trained by differentiating that gradient.

    L(θ) = mean D(fake) − mean D(real) + λ · mean_i (‖∇ₓD(x̂_i)‖ − 1)²
    x̂_i = ε_i real_i + (1 − ε_i) fake_i,   ε_i ~ U(0, 1), new each step

WGAN-GP (Gulrajani et al., 2017) keeps the critic D close to 1-Lipschitz by pushing the norm of
its gradient with respect to its input towards 1 at points between a real and a fake sample. The
penalty holds ∇ₓD, so its gradient with respect to D's weights θ is a second derivative, ∂/∂θ of
∂D/∂x. In chainrule, as in PyTorch:

    x_hat = cr.tensor(eps * real + (1 - eps) * fake, requires_grad=True)
    grad_x, = cr.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)  # row i: ∇ₓD(x̂_i)
    penalty = (((grad_x ** 2).sum(dim=(1, 2, 3)).sqrt() - 1) ** 2).mean()
    loss = D(fake).mean() - D(real).mean() + lam * penalty
    loss.backward()

Each output D(x̂_i) depends on its own sample only, so the gradient of their sum holds every
sample's ∇ₓD at once. create_graph=True records that backward pass (through the convolutions and
the tanh) as a graph, and loss.backward() differentiates it again, with respect to θ.
"""

from __future__ import annotations

import math

import numpy as np

import chainrule as cr
import chainrule.nn as nn

from chainrule.examples import Demo
from chainrule.examples._plot import save_plot

BATCH, STEPS, LR, LAMBDA = 8, 20, 0.01, 10.0


def critic(seed: int = 0) -> nn.Module:
    """D: 1×8×8 → Conv2d(1, 4, 3) → tanh → Conv2d(4, 8, 3, stride 2) → tanh → Linear(32, 1), in
    float64; every weight and bias ~ U(−1/√fan_in, 1/√fan_in), PyTorch's default, from ``seed``."""
    D = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Conv2d(4, 8, 3, stride=2), nn.Tanh(),
                      nn.Flatten(), nn.Linear(32, 1)).double()
    g = cr.Generator(seed)
    for layer in (D[0], D[2], D[5]):
        bound = 1 / math.sqrt(layer.weight[0].numel())
        for p in (layer.weight, layer.bias):
            nn.init.uniform_(p, -bound, bound, generator=g)
    return D


def data(batch: int = BATCH, steps: int = STEPS, seed: int = 0):
    """real: a bright 4×4 square in the middle, plus noise; fake: uniform noise; eps: each step's
    ε, one per sample, shaped (steps, batch, 1, 1, 1) to broadcast over an image."""
    rng = np.random.default_rng(seed)
    real = np.zeros((batch, 1, 8, 8))
    real[:, :, 2:6, 2:6] = 1
    real += 0.1 * rng.standard_normal(real.shape)
    fake = rng.random((batch, 1, 8, 8))
    eps = rng.random((steps, batch, 1, 1, 1))
    return real, fake, eps


def gradient_penalty(D, x_hat):
    """mean_i (‖∇ₓD(x̂_i)‖ − 1)², differentiable with respect to D's weights; and the norms."""
    x_hat = cr.tensor(x_hat, requires_grad=True)
    (grad_x,) = cr.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    norm = (grad_x ** 2).sum(dim=(1, 2, 3)).sqrt()
    return ((norm - 1) ** 2).mean(), norm


def train(D, real, fake, eps, lr: float = LR, lam: float = LAMBDA) -> dict:
    """One SGD step on L per row of ``eps``; each step's loss, its two terms and the mean
    ‖∇ₓD(x̂)‖, all taken before the step."""
    opt = cr.optim.SGD(D.parameters(), lr=lr)
    real_t, fake_t = cr.tensor(real), cr.tensor(fake)
    h = {"loss": [], "critic": [], "penalty": [], "norm": []}
    for e in eps:
        penalty, norm = gradient_penalty(D, e * real + (1 - e) * fake)
        wasserstein = D(fake_t).mean() - D(real_t).mean()
        loss = wasserstein + lam * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        for k, v in zip(h, (loss, wasserstein, penalty, norm.mean())):
            h[k].append(v.item())
    return h


def run(out_dir=None, steps: int = STEPS) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip())
    say("")
    real, fake, eps = data(steps=steps)
    D = critic()
    initial = {k: v.numpy().copy() for k, v in D.state_dict().items()}
    say("D: 1×8×8 → Conv2d(1, 4, 3) → tanh → Conv2d(4, 8, 3, stride 2) → tanh → Linear(32, 1),")
    say(f"   {sum(p.numel() for p in D.parameters())} weights in float64, "
        f"U(−1/√fan_in, 1/√fan_in) as in PyTorch, seed 0.")
    say(f"Data: {BATCH} real images (a bright 4×4 square plus noise) and {BATCH} fake ones "
        f"(uniform noise).")
    say(f"Training: {steps} steps of plain SGD, learning rate {LR}, λ = {LAMBDA:g}.")
    h = train(D, real, fake, eps)
    say("")
    say(f"{'step':>4}  {'loss L':>13}  {'D(fake) − D(real)':>18}  {'penalty':>11}  "
        f"{'mean ‖∇ₓD(x̂)‖':>15}")
    for k in range(steps):
        say(f"{k + 1:4d}  {h['loss'][k]:13.9f}  {h['critic'][k]:18.9f}  {h['penalty'][k]:11.9f}  "
            f"{h['norm'][k]:15.6f}")
    first = next((k for k, n in enumerate(h["norm"]) if abs(n - 1) < 0.05), None)
    if first is not None:
        stays = all(abs(n - 1) < 0.05 for n in h["norm"][first:])
        say("")
        say(f"The penalty pulls the mean ‖∇ₓD‖ from {h['norm'][0]:.3f} to within 0.05 of 1 by "
            f"step {first + 1}, where it {'stays' if stays else 'hovers'};")
        say("from then on the critic term D(fake) − D(real) does the falling: D learns to score")
        say("the squares above the noise, at the slope the penalty allows.")
    demo.values.update(initial=initial,
                       final={k: v.numpy().copy() for k, v in D.state_dict().items()},
                       real=real, fake=fake, eps=eps, lr=LR, lam=LAMBDA, **h)
    save_plot(demo, h["loss"], out_dir, "gradient_penalty_loss.png",
              "WGAN-GP critic loss", log=False)
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("gradient-penalty")
