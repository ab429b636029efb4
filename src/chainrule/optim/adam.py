"""Adam and AdamW: moment estimates with bias correction."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _implementation, _decayed_grad, _lerp_, _adam_hyper


class Adam(Optimizer):
    """PyTorch's Adam, step by step (t counts this parameter's steps from 1)::

        g = -grad if maximize else grad
        p *= 1 - lr * weight_decay  if decoupled_weight_decay  else  g += weight_decay * p
        m = lerp(m, g, 1 - beta1);   v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v) if amsgrad;   denom = sqrt(v or v_max) / sqrt(1 - beta2**t) + eps
        p -= lr / (1 - beta1**t) * m / denom

    State per parameter: ``step`` (a number), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        _implementation(type(self).__name__, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._check_options(defaults)
        super().__init__(params, defaults)

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        betas = o["betas"]
        if not 0.0 <= o["lr"]:
            raise ValueError(f"Invalid learning rate: {o['lr']}")
        if not 0.0 <= o["eps"]:
            raise ValueError(f"Invalid epsilon value: {o['eps']}")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= o["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {o['weight_decay']}")

    def _state_keys(self, group):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def step(self, closure=None):
        loss = self._closure(closure)
        workspace = self._workspace
        for group in self.param_groups:
            lr, beta1, beta2, eps, weight_decay = _adam_hyper(group)
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            w1, w2 = 1.0 - beta1, 1.0 - beta2
            moments = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
            for p, state in self._with_grad(group, *moments):
                param, g = p._data, p._grad._data
                t0, t1 = workspace(param)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                step = state["step"] = state["step"] + 1

                g = _decayed_grad(param, g, t0, lr, weight_decay, decoupled, maximize)
                _lerp_(m, g, w1, t1)
                v *= beta2
                v += np.multiply(np.multiply(g, w2, out=t1), g, out=t1)

                step_size = lr / (1.0 - beta1 ** step)
                bias_correction2_sqrt = (1.0 - beta2 ** step) ** 0.5
                if amsgrad:
                    v_max = state["max_exp_avg_sq"]._data
                    np.sqrt(np.maximum(v_max, v, out=v_max), out=t1)
                else:
                    np.sqrt(v, out=t1)
                t1 /= bias_correction2_sqrt
                t1 += eps
                np.multiply(m, -step_size, out=t0)
                param += np.divide(t0, t1, out=t0)
                bump(param)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before the Adam step, so
    the decay never enters the moments); PyTorch's default ``weight_decay=1e-2``."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _implementation("AdamW", differentiable)
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # as in PyTorch: AdamW always decouples
            group["decoupled_weight_decay"] = True
