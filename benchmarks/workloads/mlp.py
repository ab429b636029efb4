"""W1, W2, W5-MLP: Linear(784, 256) - ReLU - Linear(256, 10), cross-entropy, SGD."""

from __future__ import annotations

import numpy as np

from .numpy_ops import sgd_, softmax_cross_entropy


def build(nn):
    """The model in PyTorch's API; ``nn`` is ``torch.nn`` or ``chainrule.nn``."""
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


class NumpyMLP:
    """The same network with a hand-written forward and backward (weights in PyTorch's layout)."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.lr = lr
        self.load(params)

    def load(self, params: list[np.ndarray]) -> None:
        self.w = [np.array(p, dtype=np.float32, copy=True) for p in params]
        self.g = [np.empty_like(p) for p in self.w]

    def params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.w]

    def batches(self, x: np.ndarray, y: np.ndarray, batch: int) -> list:
        x = x.reshape(len(x), 784)
        return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w1, b1, w2, b2 = self.w
        h = x @ w1.T
        h += b1
        np.maximum(h, 0, out=h)
        z = h @ w2.T
        z += b2
        return h, z

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> np.float32:
        """Loss of the batch; the parameter gradients land in self.g."""
        w1, b1, w2, b2 = self.w
        gw1, gb1, gw2, gb2 = self.g
        h, z = self.forward(x)
        loss, dz = softmax_cross_entropy(z, y)
        np.matmul(dz.T, h, out=gw2)
        dz.sum(axis=0, out=gb2)
        dh = dz @ w2
        dh *= h > 0
        np.matmul(dh.T, x, out=gw1)
        dh.sum(axis=0, out=gb1)
        return loss

    # ---- the timed loops ----

    def train(self, batches):
        for x, y in batches:
            loss = self.forward_backward(x, y)
            sgd_(self.w, self.g, self.lr)
        return loss

    def infer(self, batches):
        return [self.forward(x)[1] for x, _ in batches]

    # ---- reading results ----

    def loss_value(self, loss) -> float:
        return float(loss)

    def logits(self, outs) -> np.ndarray:
        return np.concatenate(outs)

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        ((xb, yb),) = self.batches(x, y, len(x))
        loss = self.forward_backward(xb, yb)
        return float(loss), [g.copy() for g in self.g]
