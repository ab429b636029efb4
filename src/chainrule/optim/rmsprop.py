"""RMSprop: divide the gradient by a running root-mean-square."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _implementation, _lerp_, _scaled_grad, _zeros_state


class RMSprop(Optimizer):
    """PyTorch's RMSprop, step by step::

        g = -grad if maximize else grad;   g += weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        ga = lerp(ga, g, 1 - alpha);   avg = sqrt(v - ga * ga) if centered else sqrt(v)
        avg += eps
        b = momentum * b + g / avg;  p -= lr * b     if momentum > 0  else  p -= lr * g / avg

    State per parameter: ``step``, ``square_avg``, and ``momentum_buffer`` / ``grad_avg`` when
    ``momentum > 0`` / ``centered``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _implementation("RMSprop", differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        if not 0.0 <= o["lr"]:
            raise ValueError(f"Invalid learning rate: {o['lr']}")
        if not 0.0 <= o["eps"]:
            raise ValueError(f"Invalid epsilon value: {o['eps']}")
        if not 0.0 <= o["momentum"]:
            raise ValueError(f"Invalid momentum value: {o['momentum']}")
        if not 0.0 <= o["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {o['weight_decay']}")
        if not 0.0 <= o["alpha"]:
            raise ValueError(f"Invalid alpha value: {o['alpha']}")

    def _state_keys(self, group):
        return (("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
            centered, maximize = group["centered"], group["maximize"]
            w = 1.0 - alpha
            averages = (("square_avg",) + (("momentum_buffer",) if momentum > 0 else ())
                        + (("grad_avg",) if centered else ()))
            for p, state in self._with_grad(group, *averages):
                param, g = p._data, p._grad._data
                t0, t1 = workspace(param)
                v = state["square_avg"]._data
                state["step"] += 1

                g = _scaled_grad(param, g, t0, weight_decay, maximize)
                v *= alpha
                v += np.multiply(np.multiply(g, w, out=t1), g, out=t1)
                if centered:
                    if "grad_avg" not in state:  # centered switched on after the first step
                        state["grad_avg"] = _zeros_state(p)
                    ga = state["grad_avg"]._data
                    _lerp_(ga, g, w, t1)
                    np.subtract(v, np.multiply(ga, ga, out=t1), out=t1)
                    np.sqrt(t1, out=t1)
                else:
                    np.sqrt(v, out=t1)
                t1 += eps

                if momentum > 0:
                    if "momentum_buffer" not in state:  # momentum switched on (e.g. OneCycleLR)
                        state["momentum_buffer"] = _zeros_state(p)
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    buf += np.divide(g, t1, out=t1)
                    param += np.multiply(buf, -lr, out=t1)
                else:
                    np.multiply(g, -lr, out=t0)
                    param += np.divide(t0, t1, out=t0)
                bump(param)
        return loss
