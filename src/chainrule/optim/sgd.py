"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _implementation, _scaled_grad
from ..tensor import _make

_SCRATCH_FROM = 4096  # elements: larger updates go through the optimizer's scratch buffer


class SGD(Optimizer):
    """PyTorch's SGD, step by step::

        g = -grad if maximize else grad;   g += weight_decay * p
        b = g (first step) else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b;   p -= lr * g

    State per parameter (when ``momentum != 0``): ``momentum_buffer``.
    """

    # (lr, dtype, -lr as a read-only 0-d array of that dtype): making the array costs about
    # 2,000 instructions, as much as the update of a small parameter
    _last_scale = (None, None, None)

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _implementation("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        if o["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {o['lr']}")
        if o["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {o['momentum']}")
        if o["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {o['weight_decay']}")
        if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        loss = None if closure is None else self._closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            if float(group["momentum"]) or float(group["weight_decay"]) or group["maximize"]:
                self._step_group(group, lr)
                continue
            scale = None  # plain SGD, the common case: p -= lr * grad
            for p in group["params"]:
                if p._grad is None:
                    continue
                param, g = p._data, p._grad._data
                if scale is None or scale.dtype is not param.dtype:
                    last = self._last_scale  # the last step's, if lr and dtype are the same
                    if last[1] is param.dtype and last[0] == lr and lr:  # (not ±0.0: its sign)
                        scale = last[2]
                    else:
                        scale = _scale(-lr, param.dtype)
                        self._last_scale = (lr, param.dtype, scale)
                if param.size < _SCRATCH_FROM:  # a small temporary costs less than the lookup
                    param += g * scale
                else:
                    param += np.multiply(g, scale, out=self._workspace(param)[0])
                bump(param)  # a graph that saved the old weights now refuses to backward
        return loss

    def _step_group(self, group: dict, lr: float) -> None:
        """One step of a group with momentum, weight decay or maximize."""
        workspace = self._workspace
        momentum = float(group["momentum"])
        keep = 1.0 - float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        nesterov, maximize = group["nesterov"], group["maximize"]
        for p in group["params"]:
            if p._grad is None:
                continue
            param, g = p._data, p._grad._data
            t0, t1 = workspace(param)
            g = _scaled_grad(param, g, t0, weight_decay, maximize)
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = _make(g.astype(param.dtype), None)
                    buf = buf._data
                else:
                    buf = buf._data
                    buf *= momentum
                    if keep == 1.0:
                        buf += g
                    else:
                        buf += np.multiply(g, keep, out=t1)
                if nesterov:
                    g = np.add(g, np.multiply(buf, momentum, out=t1), out=t1)
                else:
                    g = buf
            param += np.multiply(g, -lr, out=t0)
            bump(param)


def _scale(value: float, dtype: np.dtype) -> np.ndarray:
    """``value`` as a 0-d array of a parameter's dtype (a number would cost NumPy a conversion
    per parameter)."""
    if dtype.kind not in "fc":
        raise TypeError(f"SGD: cannot update a parameter of dtype {dtype}; parameters must be "
                        "floating point")
    scale = np.array(value, dtype)
    scale.flags.writeable = False
    return scale
