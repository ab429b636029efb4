"""The Jacobians of tanh and softmax, and the chain rule as their product.

    a = x · W0 + b0,   h = tanh(a),   z = h · W1 + b1,   p = softmax(z),   L = ½ ‖p − y‖²

The network of ``mnist-tanh-softmax``, shrunk to 4 inputs, 3 hidden units and 3 classes. Each
Jacobian is found twice: by autograd, one row per call (row i of ∂h/∂a is grad(h_i, a)), and by
its closed form,

    tanh:     ∂h_i/∂a_j = δ_ij (1 − h_i²)       diag(1 − h²), a diagonal matrix
    softmax:  ∂p_i/∂z_j = p_i (δ_ij − p_j)      diag(p) − p pᵀ, symmetric, each row sums to 0

Then the chain rule by hand: the Jacobian of the whole network is the product of the layers'
Jacobians, and the gradient of L is that product transposed onto ∂L/∂p = p − y.
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

from chainrule.examples import Demo
from chainrule.examples.mnist_tanh_softmax import init, logits, squared_loss

X = np.array([[0.25, 0.5, 1.0, 0.75]])  # one "image" of four pixels
LABEL = 2
HIDDEN, CLASSES = 3, 3


def jacobian(output, input) -> np.ndarray:
    """∂output/∂input as a (output.numel(), input.numel()) array, one ``grad`` call per row."""
    flat = output.reshape(-1)
    rows = [cr.autograd.grad(flat[i], input, retain_graph=True)[0].data.reshape(-1)
            for i in range(flat.shape[0])]
    return np.stack(rows)


def matrix(a: np.ndarray, digits: int = 6) -> list:
    """The rows of ``a`` as text, every number in the same width."""
    a = np.atleast_2d(a)
    return ["[" + "  ".join(f"{v:{digits + 3}.{digits}f}" for v in row) + "]" for row in a]


def side_by_side(say, titles, matrices, digits: int = 6, indent: int = 2) -> None:
    """Print matrices next to each other under their titles."""
    columns = [[t] + matrix(m, digits) for t, m in zip(titles, matrices)]
    widths = [max(len(s) for s in c) + 4 for c in columns]
    for row in zip(*columns):
        say(" " * indent + "".join(s.ljust(w) for s, w in zip(row, widths)).rstrip())


def run(out_dir=None) -> Demo:
    demo = Demo()
    say = demo.say
    demo.intro(__doc__)
    w0, b0, w1, b1 = init(X.shape[1], HIDDEN, CLASSES, seed=0, dtype=np.float64)
    y = np.eye(CLASSES)[LABEL]
    say(f"The network of mnist-tanh-softmax with {X.shape[1]} inputs, {HIDDEN} hidden units and "
        f"{CLASSES} classes,")
    say(f"W ~ N(0, 1/fan_in), b = 0 (seed 0); one image x = {X[0].tolist()}, label {LABEL}: "
        f"y = {y.astype(int).tolist()}.")

    # each layer on its own, its input a leaf, so that grad(output_i, input) is one row
    a = cr.tensor(X @ w0 + b0, requires_grad=True)
    h = a.tanh()
    z = cr.tensor(h.data @ w1 + b1, requires_grad=True)
    p = z.softmax(dim=1)
    jt_auto, jt_form = jacobian(h, a), np.diag(1 - h.data[0] ** 2)
    js_auto = jacobian(p, z)
    js_form = np.diag(p.data[0]) - np.outer(p.data[0], p.data[0])

    say("")
    say("1. tanh: ∂h_i/∂a_j = δ_ij (1 − h_i²)")
    say(f"   a = {matrix(a.data)[0]},  h = tanh(a) = {matrix(h.data)[0]}")
    side_by_side(say, ["autograd, row i = grad(h_i, a)", "closed form diag(1 − h²)"],
                 [jt_auto, jt_form], indent=3)
    say(f"   largest difference: {np.abs(jt_auto - jt_form).max():.1e}")
    say("")
    say("2. softmax: ∂p_i/∂z_j = p_i (δ_ij − p_j)")
    say(f"   z = {matrix(z.data)[0]},  p = softmax(z) = {matrix(p.data)[0]}")
    side_by_side(say, ["autograd, row i = grad(p_i, z)", "closed form diag(p) − p pᵀ"],
                 [js_auto, js_form], indent=3)
    say(f"   largest difference: {np.abs(js_auto - js_form).max():.1e}. Each row sums to 0 "
        f"(largest |sum| {np.abs(js_form.sum(1)).max():.0e}):")
    say("   adding a constant to every z_j leaves p unchanged.")

    # the chain rule by hand: the affine maps' Jacobians are ∂a/∂x = W0ᵀ and ∂z/∂h = W1ᵀ
    chain = js_form @ w1.T @ jt_form @ w0.T
    g_p = p.data[0] - y
    g_x = chain.T @ g_p
    g_z = g_p @ js_form  # the backward pass: one vector-Jacobian product per layer
    g_a = g_z @ w1.T @ jt_form
    hand = {"x": g_x, "W0": np.outer(X[0], g_a), "b0": g_a,
            "W1": np.outer(h.data[0], g_z), "b1": g_z}

    # autograd on the whole network, as mnist_tanh_softmax builds it
    params = [cr.tensor(v, requires_grad=True) for v in (w0, b0, w1, b1)]
    x = cr.tensor(X, requires_grad=True)
    loss = squared_loss(logits(params, x), cr.tensor([LABEL]))
    loss.backward()
    auto = {"x": x.grad.data[0], **{k: t.grad.data for k, t in zip(("W0", "b0", "W1", "b1"),
                                                                    params)}}
    say("")
    chain_auto = jacobian(logits(params, x).softmax(dim=1), x)
    say("3. The chain rule is the product of the Jacobians, from the loss back to the input:")
    say("   ∂p/∂x = ∂p/∂z · ∂z/∂h · ∂h/∂a · ∂a/∂x = (diag(p) − p pᵀ) · W1ᵀ · diag(1 − h²) · W0ᵀ")
    side_by_side(say, [f"∂p/∂x ({CLASSES}×{X.shape[1]}), by hand",
                       "autograd, row i = grad(p_i, x)"],
                 [chain, chain_auto], indent=3)
    say(f"   L = ½ ‖p − y‖² = {loss.item():.10f},  ∂L/∂p = p − y = {matrix(g_p)[0]}")
    say("   ∇ₓL = (∂p/∂x)ᵀ (p − y), the product transposed onto the loss's gradient:")
    say(f"     by hand   {matrix(g_x, 12)[0]}")
    say(f"     autograd  {matrix(auto['x'], 12)[0]}")
    say("   Backpropagation never builds these matrices: it multiplies p − y into them from")
    say("   the left, one layer at a time (row vectors, as in x · W0), and the weights'")
    say("   gradients fall out on the way:")
    say("     δz = (p − y) · (diag(p) − p pᵀ)    ∂L/∂W1 = hᵀ δz,  ∂L/∂b1 = δz")
    say("     δa = δz · W1ᵀ · diag(1 − h²)        ∂L/∂W0 = xᵀ δa,  ∂L/∂b0 = δa,  "
        "∂L/∂x = δa · W0ᵀ")
    side_by_side(say, ["∂L/∂W1 by hand", "autograd"], [hand["W1"], auto["W1"]], 10, indent=5)
    side_by_side(say, ["∂L/∂W0 by hand", "autograd"], [hand["W0"], auto["W0"]], 10, indent=5)
    errors = {k: float(np.abs(hand[k] - auto[k]).max()) for k in hand}
    say("     largest difference, by hand against autograd:")
    say("       " + ", ".join(f"{k} {e:.1e}" for k, e in errors.items()))
    demo.values.update(x=X[0].copy(), w0=w0, b0=b0, w1=w1, b1=b1, y=y, a=a.detach().numpy()[0].copy(),
                       h=h.detach().numpy()[0].copy(), z=z.detach().numpy()[0].copy(),
                       p=p.detach().numpy()[0].copy(),
                       tanh_jacobian=jt_auto, tanh_closed_form=jt_form,
                       softmax_jacobian=js_auto, softmax_closed_form=js_form,
                       chain=chain, chain_autograd=chain_auto, loss=loss.item(), hand=hand,
                       autograd=auto, errors=errors)
    return demo


if __name__ == "__main__":
    from chainrule.examples import main
    main("jacobians")
