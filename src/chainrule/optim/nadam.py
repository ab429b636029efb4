"""NAdam: Adam with Nesterov momentum (Dozat, 2016), with PyTorch's momentum decay."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from ..dtypes import get_default_dtype
from .adam import Adam
from .optimizer import (Optimizer, _adam_hyper, _cast_state, _decayed_grad, _implementation, _lerp_,
                        _number)


class NAdam(Optimizer):
    """PyTorch's NAdam, step by step (t counts this parameter's steps from 1)::

        g = -grad if maximize else grad
        p *= 1 - lr * weight_decay  if decoupled_weight_decay  else  g += weight_decay * p
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));   mu_product *= mu_t
        m = lerp(m, g, 1 - beta1);   v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2**t)) + eps
        p -= lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p -= lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom

    State per parameter: ``step``, ``mu_product`` (numbers), ``exp_avg``, ``exp_avg_sq``. As in
    PyTorch, ``mu_product`` is kept in float32 (float64 if that is the default dtype).
    """

    def __init__(self, params: Iterable, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _implementation("NAdam", differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        self._check_options(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        Adam._check_options(o)
        if not 0.0 <= o["momentum_decay"]:
            raise ValueError(f"Invalid momentum_decay value: {o['momentum_decay']}")

    def _state_keys(self, group):
        return ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _load_state_value(self, p, name, value, index):
        if name == "mu_product":
            return float(_number(value, f"state[{index}]['mu_product']"))
        return _cast_state(p, name, value, index)

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        scalar = np.float64 if get_default_dtype() == np.float64 else np.float32
        for group in self.param_groups:
            lr, beta1, beta2, eps, weight_decay = _adam_hyper(group)
            momentum_decay = float(group["momentum_decay"])
            decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
            for p, state in self._with_grad(group, "exp_avg", "exp_avg_sq", mu_product=1.0):
                param, grad = p._data, p._grad._data
                t0, t1 = workspace(param)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                step = state["step"] = state["step"] + 1
                bias_correction2 = 1.0 - beta2 ** step

                g = _decayed_grad(param, grad, t0, lr, weight_decay, decoupled, maximize)
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                mu_product = float(scalar(state["mu_product"]) * scalar(mu))
                state["mu_product"] = mu_product

                _lerp_(m, g, 1.0 - beta1, t1)
                v *= beta2
                v += np.multiply(np.multiply(g, 1.0 - beta2, out=t1), g, out=t1)
                denom = np.sqrt(np.divide(v, bias_correction2, out=t1), out=t1)
                denom += eps
                scale = -lr * (1.0 - mu) / (1.0 - mu_product)
                param += np.divide(np.multiply(g, scale, out=t0), denom, out=t0)
                scale = (-lr * mu_next) / (1.0 - mu_product * mu_next)
                param += np.divide(np.multiply(m, scale, out=t0), denom, out=t0)
                bump(param)
        return loss

