"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _implementation, _scaled_grad
from ..tensor import _make


class Adagrad(Optimizer):
    """PyTorch's Adagrad, step by step (t counts this parameter's steps from 1)::

        g = -grad if maximize else grad;   g += weight_decay * p
        s += g * g;   p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    State per parameter: ``step`` and ``sum``, created at construction (as in PyTorch) filled
    with ``initial_accumulator_value``. As in PyTorch, that value is the constructor's: a
    per-group ``initial_accumulator_value`` is ignored.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _implementation("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        if not 0.0 <= o["lr"]:
            raise ValueError(f"Invalid learning rate: {o['lr']}")
        if not 0.0 <= o["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {o['lr_decay']}")
        if not 0.0 <= o["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {o['weight_decay']}")
        if not 0.0 <= o["initial_accumulator_value"]:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{o['initial_accumulator_value']}")
        if not 0.0 <= o["eps"]:
            raise ValueError(f"Invalid epsilon value: {o['eps']}")

    def _state_keys(self, group):
        return ("step", "sum")

    def _init_state(self, p) -> None:
        state = self.state[p]
        state["step"] = 0
        state["sum"] = _make(np.full_like(p._data, self.defaults["initial_accumulator_value"]), None)

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
            weight_decay, maximize = float(group["weight_decay"]), group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                param, g = p._data, p._grad._data
                state = self.state[p]
                if not state:  # a group added after construction
                    self._init_state(p)
                t0, t1 = workspace(param)
                step = state["step"] = state["step"] + 1

                g = _scaled_grad(param, g, t0, weight_decay, maximize)

                clr = lr / (1 + (step - 1) * lr_decay)
                s = state["sum"]._data
                s += np.multiply(g, g, out=t1)
                np.sqrt(s, out=t1)
                t1 += eps
                np.multiply(g, -clr, out=t0)
                param += np.divide(t0, t1, out=t0)
                bump(param)
        return loss
