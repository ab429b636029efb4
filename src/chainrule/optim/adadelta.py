"""Adadelta: steps scaled by the ratio of running root-mean-squares of updates and gradients."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _implementation, _scaled_grad


class Adadelta(Optimizer):
    """PyTorch's Adadelta, step by step::

        g = -grad if maximize else grad;   g += weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g;   u = rho * u + (1 - rho) * delta * delta
        p -= lr * delta

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).
    """

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _implementation("Adadelta", differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        if not 0.0 <= o["lr"]:
            raise ValueError(f"Invalid learning rate: {o['lr']}")
        if not 0.0 <= o["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {o['rho']}")
        if not 0.0 <= o["eps"]:
            raise ValueError(f"Invalid epsilon value: {o['eps']}")
        if not 0.0 <= o["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {o['weight_decay']}")

    def _state_keys(self, group):
        return ("step", "square_avg", "acc_delta")

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
            weight_decay, maximize = float(group["weight_decay"]), group["maximize"]
            w = 1.0 - rho
            for p, state in self._with_grad(group, "square_avg", "acc_delta"):
                param, grad = p._data, p._grad._data
                t0, t1 = workspace(param)
                v, u = state["square_avg"]._data, state["acc_delta"]._data
                state["step"] += 1

                g = _scaled_grad(param, grad, t0, weight_decay, maximize)
                v *= rho
                v += np.multiply(np.multiply(g, w, out=t1), g, out=t1)
                std = np.sqrt(np.add(v, eps, out=t1), out=t1)
                delta = np.sqrt(np.add(u, eps, out=t0), out=t0)  # (overwrites g if g is t0)
                delta /= std
                if g is t0:  # the same g again, into the scratch std no longer needs
                    g = _scaled_grad(param, grad, t1, weight_decay, maximize)
                delta *= g
                u *= rho
                u += np.multiply(np.multiply(delta, w, out=t1), delta, out=t1)
                param += np.multiply(delta, -lr, out=t0)
                bump(param)
        return loss
