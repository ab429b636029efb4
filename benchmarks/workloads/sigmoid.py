"""W4: the 2-2-1 sigmoid network on one sample, SGD with lr 1 (per-op overhead).

x = (0.35, 0.9), target 0.5, h = sigmoid(W0 x), out = sigmoid(W1 h), loss = 1/2 (target - out)^2,
W0 = [[0.1, 0.8], [0.4, 0.6]], W1 = [[0.3, 0.9]], no biases."""

from __future__ import annotations

import numpy as np

X = np.array([0.35, 0.9], dtype=np.float32)
TARGET = 0.5


def init() -> list[np.ndarray]:
    return [np.array([[0.1, 0.8], [0.4, 0.6]], dtype=np.float32),
            np.array([[0.3, 0.9]], dtype=np.float32)]


class FrameworkSigmoid:
    """Tensors, autograd and optim.SGD of ``lib`` (torch or chainrule); the same code for both."""

    def __init__(self, lib, params: list[np.ndarray], lr: float):
        self.lib = lib
        m = lib.m
        self.params_ = [m.tensor(p.copy(), requires_grad=True) for p in params]
        self.opt = m.optim.SGD(self.params_, lr=lr)

    def load(self, params: list[np.ndarray]) -> None:
        for p, w in zip(self.params_, params):
            self.lib.set_param(p, w)

    def params(self) -> list[np.ndarray]:
        return [self.lib.numpy(p).copy() for p in self.params_]

    def batches(self, x, y, steps: int) -> list:
        return [(self.lib.m.tensor(X.copy()), TARGET)] * steps

    def train(self, batches):
        w0, w1 = self.params_
        opt, sigmoid = self.opt, self.lib.m.sigmoid
        for x, target in batches:
            opt.zero_grad()
            h = sigmoid(w0 @ x)
            out = sigmoid(w1 @ h)
            loss = 0.5 * ((target - out) ** 2).sum()
            loss.backward()
            opt.step()
        return loss

    def loss_value(self, loss) -> float:
        return float(self.lib.numpy(loss))

    def grads(self, x=None, y=None) -> tuple[float, list[np.ndarray]]:
        ((xt, target),) = self.batches(None, None, 1)
        w0, w1 = self.params_
        sigmoid = self.lib.m.sigmoid
        self.opt.zero_grad()
        loss = 0.5 * ((target - sigmoid(w1 @ sigmoid(w0 @ xt))) ** 2).sum()
        loss.backward()
        return self.loss_value(loss), [self.lib.grad(p) for p in self.params_]


class NumpySigmoid:
    """By hand: two matrix-vector products, two sigmoids and their derivatives."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.lr = np.float32(lr)
        self.load(params)

    def load(self, params: list[np.ndarray]) -> None:
        self.w = [np.array(p, dtype=np.float32, copy=True) for p in params]

    def params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.w]

    def batches(self, x, y, steps: int) -> list:
        return [(X, np.float32(TARGET))] * steps

    def forward_backward(self, x, target):
        w0, w1 = self.w
        h = 1 / (1 + np.exp(-(w0 @ x)))
        out = 1 / (1 + np.exp(-(w1 @ h)))
        loss = 0.5 * (target - out[0]) ** 2
        dz1 = (out - target) * out * (1 - out)          # dL/d(W1 h), shape (1,)
        dz0 = (w1[0] * dz1[0]) * h * (1 - h)            # dL/d(W0 x), shape (2,)
        return loss, [np.outer(dz0, x), np.outer(dz1, h)]

    def train(self, batches):
        w0, w1 = self.w
        lr = self.lr
        for x, target in batches:
            loss, (g0, g1) = self.forward_backward(x, target)
            g0 *= lr
            w0 -= g0
            g1 *= lr
            w1 -= g1
        return loss

    def loss_value(self, loss) -> float:
        return float(loss)

    def grads(self, x=None, y=None) -> tuple[float, list[np.ndarray]]:
        loss, g = self.forward_backward(X, np.float32(TARGET))
        return float(loss), g
