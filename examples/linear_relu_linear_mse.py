"""Linear → ReLU → Linear with a mean squared error, differentiated by hand and by autograd.

    l1 = x W1 + b1,  l2 = relu(l1),  out = l2 W2 + b2,  loss = mean((out − y)²)

The hand-written gradients are the classic tutorial's (fast.ai's "forward and backward passes"),
each layer's backward a function of its input and the gradient of its output:

    mse_grad:   ∂loss/∂out = 2 (out − y) / n
    lin_grad:   ∂/∂inp = ∂out · Wᵀ,   ∂/∂W = Σ_batch inp ⊗ ∂out,   ∂/∂b = Σ_batch ∂out
    relu_grad:  ∂/∂inp = [inp > 0] · ∂out

chainrule's autograd and, where installed, PyTorch get the same numbers (``np.allclose``).
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.autograd.check import check_graph

from chainrule.examples import Demo

SHAPES = {"n": 16, "inputs": 5, "hidden": 8}


def data(seed: int = 0):
    """A seeded batch and parameters, float64."""
    rng = np.random.default_rng(seed)
    n, m, h = SHAPES["n"], SHAPES["inputs"], SHAPES["hidden"]
    x, y = rng.standard_normal((n, m)), rng.standard_normal(n)
    params = {"w1": rng.standard_normal((m, h)) / np.sqrt(m), "b1": 0.1 * rng.standard_normal(h),
              "w2": rng.standard_normal((h, 1)) / np.sqrt(h), "b2": 0.1 * rng.standard_normal(1)}
    return x, y, params


# -- by hand, in NumPy ---------------------------------------------------------------------------

def lin(x, w, b):
    return x @ w + b


def relu(x):
    return np.maximum(x, 0)


def mse(out, y):
    return ((out.squeeze(-1) - y) ** 2).mean()


def mse_grad(out, y):
    """∂loss/∂out, shape (n, 1)."""
    return 2.0 * (out.squeeze(-1) - y)[:, None] / out.shape[0]


def relu_grad(inp, out_grad):
    return (inp > 0) * out_grad


def lin_grad(inp, out_grad, w):
    """∂/∂inp, ∂/∂w, ∂/∂b of inp @ w + b. ∂/∂w as the tutorial writes it: the sum over the batch of
    the outer products inp ⊗ ∂out (which is inp.T @ ∂out)."""
    return out_grad @ w.T, (inp[:, :, None] * out_grad[:, None, :]).sum(0), out_grad.sum(0)


def forward_and_backward(x, y, p):
    """The loss and the hand-written gradients of every parameter and of the input."""
    l1 = lin(x, p["w1"], p["b1"])
    l2 = relu(l1)
    out = lin(l2, p["w2"], p["b2"])
    loss = mse(out, y)
    g_out = mse_grad(out, y)
    g_l2, g_w2, g_b2 = lin_grad(l2, g_out, p["w2"])
    g_l1 = relu_grad(l1, g_l2)
    g_x, g_w1, g_b1 = lin_grad(x, g_l1, p["w1"])
    return loss, {"x": g_x, "w1": g_w1, "b1": g_b1, "w2": g_w2, "b2": g_b2}


# -- by autograd -----------------------------------------------------------------------------------

def with_chainrule(x, y, p):
    t = {k: cr.tensor(v, requires_grad=True) for k, v in {"x": x, **p}.items()}
    l1 = t["x"] @ t["w1"] + t["b1"]
    l2 = l1.relu()
    out = l2 @ t["w2"] + t["b2"]
    loss = ((out.squeeze(-1) - cr.tensor(y)) ** 2).mean()
    loss.backward()
    names = {**t, "l1": l1, "l2": l2, "out": out, "loss": loss}
    return loss, {k: t[k].grad.data for k in t}, names


def with_torch(x, y, p):
    """The same in PyTorch, or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {"x": x, **p}.items()}
    out = torch.relu(t["x"] @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]
    loss = ((out.squeeze(-1) - torch.tensor(y)) ** 2).mean()
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def run(out_dir=None) -> Demo:
    demo = Demo()
    say = demo.say
    say(__doc__.strip().split("\n\n")[0] + "\n")
    x, y, p = data()
    loss, hand = forward_and_backward(x, y, p)
    loss_cr, auto, names = with_chainrule(x, y, p)
    say("autograd's backward pass, step by step (each step mirrors one hand-written function):")
    say(cr.viz.explain(names["loss"], names=names, wrt={k: names[k] for k in hand},
                       precision=3, format="steps").text())
    say(f"\nloss: by hand {loss:.10f}, chainrule {loss_cr.item():.10f}")
    agree = {k: bool(np.allclose(hand[k], auto[k])) for k in hand}
    say("gradients, hand vs chainrule (np.allclose): "
        + ", ".join(f"{k} {v}" for k, v in agree.items()))
    demo.values.update(loss=loss, hand=hand, chainrule=auto, agree_chainrule=agree)
    torch_result = with_torch(x, y, p)
    if torch_result is None:
        say("PyTorch is not installed: skipped the comparison with it")
    else:
        loss_t, grads_t = torch_result
        agree_t = {k: bool(np.allclose(hand[k], grads_t[k])) for k in hand}
        demo.values.update(torch=grads_t, agree_torch=agree_t, loss_torch=loss_t)
        say("gradients, hand vs PyTorch (np.allclose): "
            + ", ".join(f"{k} {v}" for k, v in agree_t.items()))
    _, _, names = with_chainrule(x, y, p)
    report = check_graph(names["loss"])
    demo.values["check_graph"] = report
    say(str(report))
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("linear-relu-linear-mse")
