"""Adamax: Adam with the infinity norm in place of the root-mean-square."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..autograd.versions import bump
from .adam import Adam
from .optimizer import Optimizer, _implementation, _lerp_, _scaled_grad, _adam_hyper


class Adamax(Optimizer):
    """PyTorch's Adamax, step by step (t counts this parameter's steps from 1)::

        g = -grad if maximize else grad;   g += weight_decay * p
        m = lerp(m, g, 1 - beta1);   u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1**t) * m / u

    State per parameter: ``step``, ``exp_avg`` (m) and ``exp_inf`` (u).
    """

    def __init__(self, params: Iterable, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _implementation("Adamax", differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    _check_options = staticmethod(Adam._check_options)

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_inf")

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, beta1, beta2, eps, weight_decay = _adam_hyper(group)
            maximize = group["maximize"]
            for p, state in self._with_grad(group, "exp_avg", "exp_inf"):
                param = p._data
                t0, t1 = workspace(param)
                m, u = state["exp_avg"]._data, state["exp_inf"]._data
                step = state["step"] = state["step"] + 1

                g = _scaled_grad(param, p._grad._data, t0, weight_decay, maximize)
                _lerp_(m, g, 1.0 - beta1, t1)
                u *= beta2
                np.maximum(u, np.add(np.abs(g, out=t1), eps, out=t1), out=u)
                clr = lr / (1.0 - beta1 ** step)
                param += np.divide(np.multiply(m, -clr, out=t0), u, out=t0)
                bump(param)
        return loss
