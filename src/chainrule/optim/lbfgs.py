"""L-BFGS: quasi-Newton steps from a short history of gradient changes, with an optional
strong-Wolfe line search. The algorithm is PyTorch's (itself minFunc's), step for step."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..autograd.versions import bump
from ..tensor import Tensor, _make
from .optimizer import Optimizer, _cast_state, _number


class LBFGS(Optimizer):
    """PyTorch's LBFGS. Each ``step(closure)`` runs up to ``max_iter`` iterations on all the
    parameters as one flat vector x, calling ``closure`` (which clears the gradients, computes
    the loss, calls backward and returns the loss) for f(x) and its gradient g::

        d = -H g, H the inverse Hessian approximated from the last history_size pairs
            (s = x_{k+1} - x_k, y = g_{k+1} - g_k) by the two-loop recursion
        x += t d, t = lr (min(1, 1 / |g|_1) lr on the very first iteration), or the t a
            strong-Wolfe line search finds (line_search_fn="strong_wolfe")

    It stops early when max |g| <= tolerance_grad, when the step or the change of f falls below
    tolerance_change, or after max_eval evaluations (default max_iter * 5 // 4). One parameter
    group only. The state (kept on the first parameter, as in PyTorch) holds ``func_evals``,
    ``n_iter``, the direction ``d``, step ``t``, the history ``old_dirs`` (y), ``old_stps`` (s),
    ``ro`` (1 / y.s), ``H_diag``, ``prev_flat_grad`` and ``prev_loss``; numbers are Python
    numbers, vectors are flat Tensors.
    """

    def __init__(self, params: Iterable, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        self._check_options(defaults)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    @staticmethod
    def _check_options(o: dict[str, Any]) -> None:
        if not 0.0 <= o["lr"]:
            raise ValueError(f"Invalid learning rate: {o['lr']}")

    def _state_keys(self, group):
        return ("func_evals", "n_iter")

    # -- the parameters as one flat vector --------------------------------------------------------

    def _numel(self) -> int:
        return sum(p._data.size for p in self._params)

    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p._data.size, p.dtype) if p._grad is None
                               else p._grad._data.reshape(-1) for p in self._params])

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            param = p._data
            param += np.multiply(update[offset:offset + param.size].reshape(param.shape),
                                 step_size)
            bump(param)
            offset += param.size

    def _clone_param(self) -> list[np.ndarray]:
        return [p._data.copy() for p in self._params]

    def _set_param(self, params_data: list[np.ndarray]) -> None:
        for p, data in zip(self._params, params_data, strict=True):
            np.copyto(p._data, data)
            bump(p._data)

    def _directional_evaluate(self, closure, x, t, d) -> tuple[float, np.ndarray]:
        """f and g at x + t d; the parameters are x again afterwards."""
        self._add_grad(t, d)
        loss = float(self._closure(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def step(self, closure: Callable[[], Any]):  # type: ignore[override]
        """Run up to ``max_iter`` iterations; return the loss of the first ``closure()`` call."""
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             f"it has {len(self.param_groups)} groups")
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        opt_cond = np.abs(flat_grad).max() <= tolerance_grad
        if opt_cond:
            return orig_loss

        # numbers are NumPy scalars of the parameters' dtype where PyTorch has 0-d tensors, so
        # that float32 runs round as PyTorch's do
        d, prev_flat_grad = _array(state.get("d")), _array(state.get("prev_flat_grad"))
        old_dirs = [_array(a) for a in state.get("old_dirs", [])]
        old_stps = [_array(a) for a in state.get("old_stps", [])]
        ro, t = list(state.get("ro", [])), state.get("t")
        H_diag, prev_loss = state.get("H_diag"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # update the history
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # the scale of the initial inverse Hessian

                # the two-loop recursion: d = -H g
                num_old = len(old_dirs)
                al = state.setdefault("al", [None] * history_size)
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += old_dirs[i] * -al[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += old_stps[i] * (al[i] - be_i)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)  # the directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:  # no evaluation after the last iteration
                    loss = float(self._closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:  # lack of progress
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = _make(d, None)
        state["t"] = _py(t)
        state["old_dirs"] = [_make(a, None) for a in old_dirs]
        state["old_stps"] = [_make(a, None) for a in old_stps]
        state["ro"] = [_py(v) for v in ro]
        state["H_diag"] = _py(H_diag)
        state["prev_flat_grad"] = _make(prev_flat_grad, None)
        state["prev_loss"] = prev_loss
        if "al" in state:
            state["al"] = [_py(v) for v in state["al"]]
        return orig_loss

    # -- checkpoints ---------------------------------------------------------------------------

    def _load_state_value(self, p: Tensor, name: str, value: Any, index) -> Any:
        where = f"state[{index}][{name!r}]"
        if name in ("d", "prev_flat_grad"):
            return self._flat(value, where)
        if name in ("old_dirs", "old_stps"):
            return [self._flat(v, f"{where}[{i}]") for i, v in enumerate(_sequence(value, where))]
        if name in ("ro", "al"):
            return [None if v is None else _py(_number(v, f"{where}[{i}]"))
                    for i, v in enumerate(_sequence(value, where))]
        if name in ("t", "H_diag", "prev_loss"):
            return None if value is None else _py(_number(value, where))
        if name in ("func_evals", "n_iter"):
            return _cast_state(p, "step", value, index)  # a count
        return _cast_state(p, name, value, index)

    def _flat(self, value: Any, where: str) -> Tensor | None:
        """A loaded flat vector (one entry per element of all the parameters)."""
        if value is None:
            return None
        if not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"load_state_dict: {where} must be a Tensor, got "
                            f"{type(value).__name__}")
        array = value._data if isinstance(value, Tensor) else value
        if array.shape != (self._numel(),):
            raise ValueError(f"load_state_dict: {where} has shape {array.shape}, but LBFGS's "
                             f"parameters have {self._numel()} elements in all")
        dtype = self._params[0].dtype
        return _make(np.array(array, dtype=dtype if dtype.kind in "fc" else array.dtype), None)


def _array(value):
    return value._data if isinstance(value, Tensor) else value


def _py(value):
    """A NumPy scalar as a Python number (other values as they are)."""
    return value.item() if isinstance(value, np.generic) else value


def _sequence(value: Any, where: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"load_state_dict: {where} must be a list, got {type(value).__name__}")
    return list(value)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to
    ``bounds`` (the interval between x1 and x2 by default); its midpoint if there is none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - _div(3 * (f1 - f2), x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _div(a, b):
    """``a / b`` as PyTorch computes a Python number over a 0-d tensor: ``(1 / b) * a``."""
    if isinstance(b, np.generic) and not isinstance(a, np.generic):
        return np.reciprocal(b) * a
    return a / b


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step t along d that satisfies the strong Wolfe conditions (sufficient decrease c1,
    curvature c2): bracket one, then zoom in by cubic interpolation. Returns
    ``(f_new, g_new, t, evaluations)``."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point that satisfies the conditions
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break

        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])

        # too close to an end of the bracket (twice, or beyond it): 10 % of it away instead
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not enough decrease, or not below the low end: the new high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the low one
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
