"""RAdam: Adam whose adaptive step is switched on gradually, as the variance of its estimate
becomes tractable (Liu et al., 2019)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..autograd.versions import bump
from .adam import Adam
from .optimizer import Optimizer, _implementation, _decayed_grad, _lerp_, _adam_hyper


class RAdam(Optimizer):
    """PyTorch's RAdam, step by step (t counts this parameter's steps from 1)::

        g = -grad if maximize else grad
        p *= 1 - lr * weight_decay  if decoupled_weight_decay  else  g += weight_decay * p
        m = lerp(m, g, 1 - beta1);   v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;   rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                       p -= lr * m / (1 - beta1**t) * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r
        else:          p -= lr * m / (1 - beta1**t)

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _implementation("RAdam", differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    _check_options = staticmethod(Adam._check_options)

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_avg_sq")

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, beta1, beta2, eps, weight_decay = _adam_hyper(group)
            decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
            rho_inf = 2 / (1 - beta2) - 1
            for p, state in self._with_grad(group, "exp_avg", "exp_avg_sq"):
                param = p._data
                t0, t1 = workspace(param)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                step = state["step"] = state["step"] + 1

                g = _decayed_grad(param, p._grad._data, t0, lr, weight_decay, decoupled, maximize)
                _lerp_(m, g, 1.0 - beta1, t1)
                v *= beta2
                v += np.multiply(np.multiply(g, 1.0 - beta2, out=t1), g, out=t1)

                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                update = np.divide(m, bias_correction1, out=t0)
                update *= lr
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                if rho_t > 5.0:
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    # sqrt(1 - beta2**t) / (sqrt(v) + eps), as PyTorch computes a number over
                    # a tensor: the reciprocal, times the number
                    adaptive = np.reciprocal(np.add(np.sqrt(v, out=t1), eps, out=t1), out=t1)
                    adaptive *= bias_correction2 ** 0.5
                    update *= adaptive
                    update *= rect
                param -= update
                bump(param)
        return loss
