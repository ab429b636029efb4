"""W1, W2, W5-MLP, W6: Linear(784, 256) - ReLU - Linear(256, 10), cross-entropy, SGD; W6 its
Hessian-vector products."""

from __future__ import annotations

import numpy as np

from .numpy_ops import sgd_, softmax_cross_entropy


def build(nn):
    """The model in PyTorch's API; ``nn`` is ``torch.nn`` or ``chainrule.nn``."""
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


class NumpyMLP:
    """The same network with a hand-written forward and backward (weights in PyTorch's layout);
    with ``vectors`` (one per parameter), a hand-written Hessian-vector product too."""

    def __init__(self, params: list[np.ndarray], lr: float,
                 vectors: list[np.ndarray] | None = None):
        self.lr = lr
        self.v = None if vectors is None else [np.array(v, np.float32, copy=True) for v in vectors]
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

    def hessian_vector_product(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """H v of the batch's loss at the current weights, into self.g: Pearlmutter's R-op
        R{f} = d/dr f(w + r v) at r = 0, applied to the forward pass and then to the backward
        pass of ``forward_backward`` (R{gW2} is H v's W2 block, and so on). The gradient itself
        is not needed, only dz and R{dz}: three products with x, where a double backward makes
        four. ReLU's mask has derivative 0; softmax's Jacobian gives R{p} = p (R{z} - Σ p R{z})."""
        w1, b1, w2, b2 = self.w
        v1, c1, v2, c2 = self.v
        hw1, hb1, hw2, hb2 = self.g
        scale = np.float32(1.0 / len(y))
        a = x @ w1.T
        a += b1
        mask = a > 0
        h = np.maximum(a, 0, out=a)
        z = h @ w2.T
        z += b2
        rh = x @ v1.T                               # R{h} = (x V1ᵀ + c1) ⊙ mask
        rh += c1
        rh *= mask
        rz = rh @ w2.T                              # R{z} = R{h} W2ᵀ + h V2ᵀ + c2
        rz += h @ v2.T
        rz += c2
        z -= z.max(axis=1, keepdims=True)           # p = softmax(z), in z's memory
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        rz -= (z * rz).sum(axis=1, keepdims=True)   # R{dz} = R{p} / B
        rz *= z
        rz *= scale
        z[np.arange(len(y)), y] -= 1.0              # dz = (p - onehot(y)) / B
        z *= scale
        np.matmul(rz.T, h, out=hw2)                 # R{gW2} = R{dz}ᵀ h + dzᵀ R{h}
        hw2 += z.T @ rh
        rz.sum(axis=0, out=hb2)
        rdh = rz @ w2                               # R{dh} = (R{dz} W2 + dz V2) ⊙ mask
        rdh += z @ v2
        rdh *= mask
        np.matmul(rdh.T, x, out=hw1)                # R{gW1} = R{dh}ᵀ x
        rdh.sum(axis=0, out=hb1)
        return self.g

    # ---- the timed loops ----

    def train(self, batches):
        for x, y in batches:
            loss = self.forward_backward(x, y)
            sgd_(self.w, self.g, self.lr)
        return loss

    def infer(self, batches):
        return [self.forward(x)[1] for x, _ in batches]

    def hvp(self, batches):
        for x, y in batches:
            hv = self.hessian_vector_product(x, y)
        return hv

    # ---- reading results ----

    def loss_value(self, loss) -> float:
        return float(loss)

    def logits(self, outs) -> np.ndarray:
        return np.concatenate(outs)

    def hv_arrays(self, hv) -> list[np.ndarray]:
        return [h.copy() for h in hv]

    def grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        ((xb, yb),) = self.batches(x, y, len(x))
        loss = self.forward_backward(xb, yb)
        return float(loss), [g.copy() for g in self.g]
