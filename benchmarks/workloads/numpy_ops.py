"""Hand-written NumPy forward and backward pieces for the reference implementations.

The rule for "hand-written": the same layers as the model, each forward and backward written
with the fastest plain-NumPy idiom we know (float32, in-place where the value is not needed
again, buffers reused between steps, one matmul per convolution), but no fusion across layers
other than softmax + cross-entropy, which ``F.cross_entropy`` is too.  That is the best a
layer-by-layer NumPy library can do, so chainrule / hand-written is its overhead."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[np.float32, np.ndarray]:
    """Mean cross-entropy of logits z (B, C) against labels y (B,), and dL/dz, computed in z's
    memory: L = mean(logsumexp(z) - z[y]);  dL/dz = (softmax(z) - onehot(y)) / B."""
    b = len(y)
    rows = np.arange(b)
    zy = z[rows, y]
    m = z.max(axis=1, keepdims=True)
    z -= m
    np.exp(z, out=z)
    s = z.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - (zy - m[:, 0]))
    z /= s
    z[rows, y] -= 1.0
    z *= np.float32(1.0 / b)
    return loss, z


def sgd_(params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
    """p -= lr * g, in place (the gradient buffers are scaled in place too)."""
    lr = np.float32(lr)
    for p, g in zip(params, grads):
        g *= lr
        p -= g


# The convolution helpers use the (C, H, W, B) layout, channels first and batch last: a 3x3
# window of it, x[:, i:i+H, j:j+W], is C*H runs of W*B contiguous floats, so the strided copies
# and adds below move long runs; and cols (C*9, H*W*B) makes a convolution one matmul
# W (Cout, C*9) @ cols whose result (Cout, H*W*B) is again in that layout.

def im2col_3x3(xp: np.ndarray, cols: np.ndarray) -> None:
    """Padded input xp (C, H+2, W+2, B) -> cols (C, 3, 3, H, W, B), by 9 strided copies."""
    h, w = cols.shape[3:5]
    for i in range(3):
        for j in range(3):
            cols[:, i, j] = xp[:, i:i + h, j:j + w]


def col2im_3x3(dcols: np.ndarray, dxp: np.ndarray) -> np.ndarray:
    """Adjoint of im2col_3x3: dcols (C, 3, 3, H, W, B) -> dx (C, H, W, B), by 9 strided adds
    into the padded buffer dxp (C, H+2, W+2, B), whose interior is returned as a view."""
    h, w = dcols.shape[3:5]
    dxp.fill(0)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + h, j:j + w] += dcols[:, i, j]
    return dxp[:, 1:h + 1, 1:w + 1]


_WINDOW = ((0, 0), (0, 1), (1, 0), (1, 1))


def maxpool_2x2(a: np.ndarray) -> np.ndarray:
    """Max over 2x2 windows, stride 2, of axes 1 and 2 of a (C, H, W, B): 3 strided maximums."""
    p = np.maximum(a[:, 0::2, 0::2], a[:, 0::2, 1::2])
    np.maximum(p, a[:, 1::2, 0::2], out=p)
    np.maximum(p, a[:, 1::2, 1::2], out=p)
    return p


def maxpool_2x2_backward(a: np.ndarray, p: np.ndarray, grad_output: np.ndarray,
                         grad_input: np.ndarray) -> np.ndarray:
    """Route grad_output (C, H/2, W/2, B) to the window maxima of a (C, H, W, B): 4 strided
    masked products, no scatter.

    Ties go to the first maximum in the window's row-major order, as in PyTorch; they are common
    here (a window of a ReLU's zeros, or of a conv output that is just its bias).  ``rest`` is
    the gradient not yet routed: subtracting what a position took zeroes it exactly."""
    rest = grad_output.copy()
    for k, (i, j) in enumerate(_WINDOW):
        taken = grad_input[:, i::2, j::2]
        np.multiply(rest, a[:, i::2, j::2] == p, out=taken)
        if k < 3:
            rest -= taken
    return grad_input
