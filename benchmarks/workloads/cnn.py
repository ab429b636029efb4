"""W3, W5-CNN: Conv2d(1, 8, 3, padding=1) - ReLU - MaxPool2d(2) - Conv2d(8, 16, 3, padding=1) -
ReLU - MaxPool2d(2) - Flatten - Linear(784, 10), cross-entropy, SGD."""

from __future__ import annotations

import numpy as np

from .numpy_ops import (col2im_3x3, im2col_3x3, maxpool_2x2, maxpool_2x2_backward, sgd_,
                        softmax_cross_entropy)


def build(nn):
    """The model in PyTorch's API; ``nn`` is ``torch.nn`` or ``chainrule.nn``."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, 10),
    )


class NumpyCNN:
    """The same network by hand.  Activations live as (C, H, W, B) (see ``numpy_ops``), so each
    convolution is one matmul on im2col columns, and the flatten before the Linear layer,
    PyTorch's (B, C*H*W) order, is a free transposed view."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.lr = lr
        self.load(params)

    def load(self, params: list[np.ndarray]) -> None:
        self.w = [np.array(p, dtype=np.float32, copy=True) for p in params]
        self.g = [np.empty_like(p) for p in self.w]
        self._buffers = {}

    def params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.w]

    def batches(self, x: np.ndarray, y: np.ndarray, batch: int) -> list:
        return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]

    def _buf(self, b: int) -> dict:
        """Scratch arrays for batch size b, allocated once; the padded inputs keep zero borders."""
        buf = self._buffers.get(b)
        if buf is None:
            f = np.float32
            buf = self._buffers[b] = {
                "xp1": np.zeros((1, 30, 30, b), f), "cols1": np.empty((1, 3, 3, 28, 28, b), f),
                "xp2": np.zeros((8, 16, 16, b), f), "cols2": np.empty((8, 3, 3, 14, 14, b), f),
                "da1": np.empty((8, 28, 28, b), f), "dxp2": np.empty((8, 16, 16, b), f),
                "da2": np.empty((16, 14, 14, b), f),
            }
        return buf

    def forward(self, x: np.ndarray):
        c1w, c1b, c2w, c2b, fw, fb = self.w
        b = len(x)
        buf = self._buf(b)
        xp1, cols1, xp2, cols2 = buf["xp1"], buf["cols1"], buf["xp2"], buf["cols2"]
        xp1[0, 1:29, 1:29] = x[:, 0].transpose(1, 2, 0)
        im2col_3x3(xp1, cols1)
        a1 = c1w.reshape(8, 9) @ cols1.reshape(9, 784 * b)
        a1 += c1b[:, None]
        np.maximum(a1, 0, out=a1)
        a1 = a1.reshape(8, 28, 28, b)
        p1 = maxpool_2x2(a1)                                    # (8, 14, 14, b)
        xp2[:, 1:15, 1:15] = p1
        im2col_3x3(xp2, cols2)
        a2 = c2w.reshape(16, 72) @ cols2.reshape(72, 196 * b)
        a2 += c2b[:, None]
        np.maximum(a2, 0, out=a2)
        a2 = a2.reshape(16, 14, 14, b)
        p2 = maxpool_2x2(a2)                                    # (16, 7, 7, b)
        f = p2.reshape(784, b).T                                # (b, 784), PyTorch's order
        z = f @ fw.T
        z += fb
        return z, (a1, p1, a2, p2, f)

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> np.float32:
        """Loss of the batch; the parameter gradients land in self.g."""
        c1w, c1b, c2w, c2b, fw, fb = self.w
        g1w, g1b, g2w, g2b, gfw, gfb = self.g
        b = len(x)
        buf = self._buf(b)
        z, (a1, p1, a2, p2, f) = self.forward(x)
        loss, dz = softmax_cross_entropy(z, y)
        # Linear
        np.matmul(dz.T, f, out=gfw)
        dz.sum(axis=0, out=gfb)
        dp2 = (fw.T @ dz.T).reshape(16, 7, 7, b)
        # pool2, relu2, conv2
        da2 = maxpool_2x2_backward(a2, p2, dp2, buf["da2"])
        da2 *= a2 > 0
        g2 = da2.reshape(16, 196 * b)
        np.matmul(g2, buf["cols2"].reshape(72, 196 * b).T, out=g2w.reshape(16, 72))
        g2.sum(axis=1, out=g2b)
        dcols2 = (c2w.reshape(16, 72).T @ g2).reshape(8, 3, 3, 14, 14, b)
        dp1 = col2im_3x3(dcols2, buf["dxp2"])
        # pool1, relu1, conv1 (no gradient for the input)
        da1 = maxpool_2x2_backward(a1, p1, dp1, buf["da1"])
        da1 *= a1 > 0
        g1 = da1.reshape(8, 784 * b)
        np.matmul(g1, buf["cols1"].reshape(9, 784 * b).T, out=g1w.reshape(8, 9))
        g1.sum(axis=1, out=g1b)
        return loss

    # ---- the timed loops ----

    def train(self, batches):
        for x, y in batches:
            loss = self.forward_backward(x, y)
            sgd_(self.w, self.g, self.lr)
        return loss

    def infer(self, batches):
        return [self.forward(x)[0] for x, _ in batches]

    # ---- reading results ----

    def loss_value(self, loss) -> float:
        return float(loss)

    def logits(self, outs) -> np.ndarray:
        return np.concatenate(outs)

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        ((xb, yb),) = self.batches(x, y, len(x))
        loss = self.forward_backward(xb, yb)
        return float(loss), [g.copy() for g in self.g]
