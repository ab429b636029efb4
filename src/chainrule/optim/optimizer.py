"""``Optimizer``: parameter groups, per-parameter state, and PyTorch-format state dicts.

Subclasses implement ``step`` as a loop over ``param_groups`` that updates each parameter's NumPy
array in place. Temporaries come from a ``_Workspace`` so that a warm step allocates nothing.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import enable_grad
from ..autograd.versions import bump
from ..tensor import Tensor, _make


class _Workspace:
    """Two scratch arrays per (shape, dtype), all carved from one flat buffer per dtype: a step
    allocates nothing once warm, and the scratch costs twice the largest parameter, not twice
    the model."""

    __slots__ = ("_flat", "_views")

    def __init__(self) -> None:
        self._flat: dict[np.dtype, np.ndarray] = {}
        self._views: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        views = self._views.get((a.shape, a.dtype))
        if views is None:
            views = self._carve(a.shape, a.dtype)
        return views

    def _carve(self, shape: tuple, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        n = math.prod(shape)
        flat = self._flat.get(dtype)
        if flat is None or flat.size < 2 * n:
            flat = self._flat[dtype] = np.empty(2 * n, dtype)
            # views onto the old buffer would keep it alive: carve them again from the new one
            self._views = {k: v for k, v in self._views.items() if k[1] != dtype}
        views = (flat[:n].reshape(shape), flat[n:2 * n].reshape(shape))
        self._views[(shape, dtype)] = views
        return views


_SET_MESSAGE = ("optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead.")


class Optimizer:
    """Base class: holds ``param_groups`` (a list of dicts, each with ``"params"`` and that group's
    options, missing options filled from ``defaults``) and ``state`` (a dict keyed by parameter).

    ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts (a group each)::

        opt = cr.optim.SGD([{"params": model.body.parameters()},
                            {"params": model.head.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._workspace = _Workspace()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got Tensor")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # -- what subclasses provide ---------------------------------------------------------------

    @staticmethod
    def _check_options(options: dict[str, Any]) -> None:
        """Raise ``ValueError`` (PyTorch's message) for an invalid option of a group."""

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The keys a parameter's non-empty state must hold, for ``load_state_dict`` to check."""
        return ()

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a ``.grad``; ``closure`` (re-evaluates the model and
        returns the loss) is called first, with gradients enabled, and its loss returned."""
        raise NotImplementedError

    # -- groups ----------------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a group (a dict with ``"params"`` and any options that differ from the defaults),
        e.g. to start training layers that were frozen."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("add_param_group: the group has no 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        else:
            params = list(params)

        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names
        param_group["params"] = params

        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if p.grad_fn is not None and not p.retains_grad:
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self._check_options(param_group)

        ids = {id(p) for p in params}
        if len(ids) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
            if not ids.isdisjoint(id(p) for p in group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set every ``.grad`` to None (default), or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is not None:
                    if set_to_none:
                        p._grad = None
                    else:
                        g.grad_fn = None
                        g.requires_grad = False
                        g._data.fill(0)
                        bump(g._data)

    def _with_grad(self, group: dict[str, Any], *zeros: str, **numbers: Any):
        """Each parameter of ``group`` that has a gradient, as ``(p, state)``. A state seen for
        the first time starts with ``step`` 0, then ``numbers``, then a zero Tensor of the
        parameter's shape for each name in ``zeros``."""
        states = self.state
        for p in group["params"]:
            if p._grad is None:
                continue
            state = states[p]
            if not state:
                state["step"] = 0
                state.update(numbers)
                for name in zeros:
                    state[name] = _zeros_state(p)
            yield p, state

    def _closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's format: ``{"state": {index: {name: Tensor or number}}, "param_groups":
        [{option: value, ..., "params": [index, ...]}]}``, a parameter's index being its position
        across the groups. Like PyTorch, the state Tensors are the live ones, not copies: save
        the dict (``cr.save``) before the next ``step``."""
        index: dict[int, int] = {}
        groups = []
        position = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), position)
                position += 1
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take options and state from ``state_dict`` (from ``state_dict()``, possibly through
        ``cr.save``/``cr.load``), matching parameters by position. Checks the number of groups,
        of parameters per group, the options each group needs, and every state array's shape;
        state arrays are copied into the parameter's dtype."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            got = list(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError("load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups' (from Optimizer.state_dict()), got {got}")
        if not isinstance(state_dict["state"], dict):
            raise TypeError("load_state_dict: state_dict['state'] must be a dict, got "
                            f"{type(state_dict['state']).__name__}")
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError("load_state_dict: loaded state dict has a different number of "
                             f"parameter groups ({len(saved_groups)}) than the optimizer "
                             f"({len(groups)})")
        for i, (group, saved) in enumerate(zip(groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"load_state_dict: param_groups[{i}] is not a dict with 'params'")
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("load_state_dict: loaded state dict contains a parameter group "
                                 "that doesn't match the size of optimizer's group: group "
                                 f"{i} has {len(saved['params'])} parameters in the state dict "
                                 f"and {len(group['params'])} in the optimizer")
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise ValueError(f"load_state_dict: param_groups[{i}] has no {missing}; was the "
                                 f"state dict saved from another optimizer than "
                                 f"{type(self).__name__}?")
            self._check_options(saved)

        id_map: dict[int, Tensor] = {}
        for group, saved in zip(groups, saved_groups):
            for index, p in zip(saved["params"], group["params"]):
                id_map[int(index)] = p
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, values in state_dict["state"].items():
            if isinstance(index, (int, np.integer)) and int(index) in id_map:
                p = id_map[int(index)]
            else:
                raise ValueError(f"load_state_dict: state for parameter {index!r}, which no "
                                 f"param_groups entry lists (they list {sorted(id_map)})")
            if not isinstance(values, dict):
                raise TypeError(f"load_state_dict: state[{index}] must be a dict, got "
                                f"{type(values).__name__}")
            state[p] = {name: self._load_state_value(p, name, value, index)
                        for name, value in values.items()}

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        for group in new_groups:
            expected = self._state_keys(group)
            for p in group["params"]:
                s = state.get(p)
                if s and (missing := [k for k in expected if k not in s]):
                    raise ValueError(f"load_state_dict: the state of a parameter of shape "
                                     f"{p.shape} has no {missing}; was it saved from another "
                                     f"optimizer than {type(self).__name__}?")
        self.state = state
        self.param_groups = new_groups

    def _load_state_value(self, p: Tensor, name: str, value: Any, index) -> Any:
        """A loaded state value, checked against its parameter and made independent of the dict
        (an optimizer with state of other shapes, such as LBFGS, overrides this)."""
        return _cast_state(p, name, value, index)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group)
                      if k not in ("params", "param_names")]
        return "\n".join(lines) + "\n)"


def _adam_hyper(group: dict) -> tuple[float, float, float, float, float]:
    """An Adam-family group's lr, beta1, beta2, eps and weight_decay, as Python floats."""
    beta1, beta2 = group["betas"]
    return (float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
            float(group["weight_decay"]))


def _implementation(name: str, differentiable: bool = False, **_switches) -> None:
    """PyTorch's switches between implementations of one update (``foreach``, ``fused``,
    ``capturable``) are accepted: chainrule has one NumPy implementation, which gives the same
    numbers. ``differentiable=True`` (a step recorded for autograd) is not available."""
    if differentiable:
        raise RuntimeError(f"{name}: differentiable=True is not supported: chainrule's "
                           f"optimizers update parameters in place, outside the graph")


def _cast_state(p: Tensor, name: str, value: Any, index) -> Any:
    """A loaded state value, checked against its parameter and made independent of the dict."""
    if name == "step":  # a count: PyTorch keeps it in a 0-d tensor, chainrule in a number
        value = _number(value, f"state[{index}]['step']")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value < 0:
            raise ValueError(f"load_state_dict: state[{index}]['step'] must be a count, got "
                             f"{value!r}")
        return value
    if isinstance(value, (Tensor, np.ndarray)):
        array = value._data if isinstance(value, Tensor) else value
        if array.shape != p.shape:
            raise ValueError(f"load_state_dict: state[{index}][{name!r}] has shape "
                             f"{array.shape}, but the parameter has shape {p.shape}")
        dtype = p.dtype if p.dtype.kind in "fc" else array.dtype
        return _make(np.array(array, dtype=dtype, copy=True), None)
    return copy.deepcopy(value)


def _zeros_state(p: Tensor) -> Tensor:
    return _make(np.zeros_like(p._data), None)


def _number(value: Any, what: str) -> Any:
    """A loaded scalar state value as a Python number (PyTorch keeps some in 0-d tensors)."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = np.asarray(value._data if isinstance(value, Tensor) else value)
        if array.size != 1:
            raise ValueError(f"load_state_dict: {what} must be a number, got an array of shape "
                             f"{array.shape}")
        value = array.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"load_state_dict: {what} must be a number, got {value!r}")
    return value


def _scaled_grad(param: np.ndarray, grad: np.ndarray, out: np.ndarray, weight_decay: float,
                 maximize: bool) -> np.ndarray:
    """The gradient a step uses: ``-grad`` if maximize, plus ``weight_decay * param`` (L2);
    written into ``out`` when it differs from ``grad``."""
    if weight_decay != 0:
        np.multiply(param, weight_decay, out=out)
        return (np.subtract if maximize else np.add)(out, grad, out=out)
    if maximize:
        return np.negative(grad, out=out)
    return grad


def _decayed_grad(param: np.ndarray, grad: np.ndarray, out: np.ndarray, lr: float,
                  weight_decay: float, decoupled: bool, maximize: bool) -> np.ndarray:
    """Adam's handling of weight decay: decoupled (``param *= 1 - lr * weight_decay``, the
    gradient untouched) or L2 (added to the gradient)."""
    if weight_decay != 0 and decoupled:
        param *= 1.0 - lr * weight_decay
        weight_decay = 0.0
    return _scaled_grad(param, grad, out, weight_decay, maximize)


def _lerp_(m: np.ndarray, g: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """``m = lerp(m, g, weight)`` in place, in the form PyTorch's lerp picks for the weight:
    ``m + weight * (g - m)`` below 0.5, ``g - (g - m) * (1 - weight)`` from 0.5 on."""
    np.subtract(g, m, out=scratch)
    if weight < 0.5:
        m += np.multiply(scratch, weight, out=scratch)
    else:
        np.subtract(g, np.multiply(scratch, 1.0 - weight, out=scratch), out=m)
