"""Adam and AdamW: moment estimates with bias correction."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..autograd.versions import bump
from .optimizer import Optimizer, _zeros_state


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
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
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
            lr = float(group["lr"])
            beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
            eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            w1, w2 = 1.0 - beta1, 1.0 - beta2
            for p in group["params"]:
                if p._grad is None:
                    continue
                param, g = p.data, p._grad.data
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = _zeros_state(p)
                    state["exp_avg_sq"] = _zeros_state(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = _zeros_state(p)
                t0, t1 = workspace(param)
                m, v = state["exp_avg"].data, state["exp_avg_sq"].data
                step = state["step"] = state["step"] + 1

                if weight_decay != 0:
                    if decoupled:
                        param *= 1.0 - lr * weight_decay
                        if maximize:
                            g = np.negative(g, out=t0)
                    else:
                        np.multiply(param, weight_decay, out=t0)
                        g = (np.subtract if maximize else np.add)(t0, g, out=t0)
                elif maximize:
                    g = np.negative(g, out=t0)

                # m = lerp(m, g, w1), in the form PyTorch's lerp picks for the weight
                np.subtract(g, m, out=t1)
                if w1 < 0.5:
                    m += np.multiply(t1, w1, out=t1)
                else:
                    np.subtract(g, np.multiply(t1, beta1, out=t1), out=m)
                v *= beta2
                v += np.multiply(np.multiply(g, w2, out=t1), g, out=t1)

                step_size = lr / (1.0 - beta1 ** step)
                bias_correction2_sqrt = (1.0 - beta2 ** step) ** 0.5
                if amsgrad:
                    v_max = state["max_exp_avg_sq"].data
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
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # as in PyTorch: AdamW always decouples
            group["decoupled_weight_decay"] = True
