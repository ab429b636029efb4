"""Watching a network train: per-layer gradient, weight, update and activation statistics every N
steps, from module hooks alone, with diagnoses in plain words.

    mon = TrainingMonitor(model, every=10)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        mon.step(loss)                       # once per step, after optimizer.step()
    mon.save_plots("out")                    # gradient_flow.png, update_ratio.png, ...

Steps are counted from 0 (or ``start``); the first step and then steps N, 2N, ... are recorded.
For a recorded step the monitor arms its hooks at the end of the previous ``step()`` (the first
step: when it is made) and removes them in that step's ``step()``: on the other steps no hook is
registered anywhere, so ``Module.__call__`` runs its hook-free fast path. Only the first forward
with grad mode on after the hooks are armed is looked at (an evaluation under ``no_grad`` in
between is ignored).

What a recorded step measures, per layer (a module with parameters of its own: Linear, Conv,
BatchNorm, ...), on its ``weight`` (or, without one, all its own parameters together):

    weight_norm   ‖w‖ after the optimizer step
    grad_norm     ‖∂L/∂w‖ (p.grad, read in ``step()``); grad_mean, grad_std, grad_abs_mean and
                  grad_abs_max over its elements (grad_abs_mean, which only gradient_flow.png
                  draws, over about GRAD_SAMPLE (32768) of them where there are more: evenly
                  spaced runs of 1024 consecutive elements)
    update_ratio  ‖w_after − w_before‖ / ‖w_before‖, w_before copied when the step's forward starts
                  (None for a layer without a gradient: frozen, or outside this step's loss)

and per module output (the layers', and the activation modules': the ReLU family, Sigmoid, Tanh,
...): act_mean and act_std over the batch, plus

    dead_frac       ReLU and ReLU6: the fraction of units (features, or channels: axis 1) that are
                    0 for every sample of the batch (and every position)
    saturated_frac  Sigmoid: the fraction of outputs below 0.01 or above 0.99; Tanh: of outputs
                    with |y| > 0.97 (the threshold of Karpathy's makemore lessons)

Functional activations (``F.relu`` inside a ``forward``) are not modules, so they are not seen.

Diagnoses, each kind said once (at the first recorded step where it shows), with the thresholds
below as class attributes (set them on an instance to change them):

    vanishing      the first layer's gradient norm < VANISHING (1e-3) × the last layer's (first
                   and last of the layers with parameters, in ``named_modules`` order)
    exploding      a gradient norm > EXPLODING_NORM (1e3), or the first layer's
                   > EXPLODING (1e3) × the last layer's (growing toward the input)
    nonfinite      NaN or Inf in the loss (checked every step), an activation or a gradient
    dead_relu      more than DEAD (half) of a ReLU module's units dead
    saturated      more than SATURATED (half) of a Sigmoid or Tanh module's outputs saturated
    small_updates  a layer's update ratio below UPDATE_RANGE[0] (1e-5) at UPDATE_PATIENCE (3)
                   recorded steps in a row: it barely learns
    large_updates  one above UPDATE_RANGE[1] (1e-1) at 3 in a row; about 1e-3 is healthy
                   (Karpathy). (A single step out of the band is common early in training,
                   while momentum builds up.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor

RELU_KINDS = ("ReLU", "ReLU6")
ACTIVATION_KINDS = RELU_KINDS + (
    "LeakyReLU", "PReLU", "Sigmoid", "Tanh", "GELU", "SELU", "SiLU", "Mish", "Hardswish",
    "Hardsigmoid", "ELU", "CELU", "Softplus", "Softsign", "LogSigmoid", "Hardtanh", "Threshold")
FIELDS = ("weight_norm", "grad_norm", "update_ratio", "grad_mean", "grad_std", "grad_abs_mean",
          "grad_abs_max", "act_mean", "act_std", "dead_frac", "saturated_frac")


@dataclass
class Diagnosis:
    """A problem the monitor saw: at ``step``, in ``layer`` (a module path, "" for the loss)."""

    step: int
    layer: str
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


def _sumsq(a: np.ndarray) -> float:
    """Σ a², by BLAS's dot (the monitor's hot spot); rescaled where the squares overflow."""
    v = a.reshape(-1)
    s = float(np.dot(v, v))
    if not math.isfinite(s) and np.isfinite(v).all():  # float32 squares overflow above ~1e19
        m = float(np.abs(v).max())
        u = v / m
        s = m * m * float(np.dot(u, u))
    return s


ROW = 1024  # a long vector is summed as rows this long (and |g| sampled in runs this long)


class _Scratch:
    """Arrays reused from one recorded step to the next: ones (a sum is a dot product with
    them, which BLAS does several times faster than NumPy's pairwise sum) and a buffer."""

    def __init__(self) -> None:
        self.arrays: dict = {}

    def get(self, kind: str, n: int, dtype) -> np.ndarray:
        a = self.arrays.get((kind, dtype))
        if a is None or a.size < n:
            a = (np.ones if kind == "ones" else np.empty)(n, dtype)
            self.arrays[(kind, dtype)] = a
        return a[:n]

    def sum(self, v: np.ndarray) -> float:
        """Σ v: a long vector as rows of ROW, summed down the columns by BLAS's matrix-vector
        product, so that the ones read are short (they are cold in the cache at one step in N)."""
        m = v.size // ROW
        if m < 2:
            return float(np.dot(v, self.get("ones", v.size, v.dtype)))
        ones = self.get("ones", max(m, ROW), v.dtype)
        columns = np.dot(ones[:m], v[:m * ROW].reshape(m, ROW))
        tail = v[m * ROW:]
        return float(np.dot(columns, ones[:ROW])) + float(np.dot(tail, ones[:tail.size]))

    def grad_stats(self, g: np.ndarray, sample: int) -> dict:
        """‖g‖, and the mean, std, mean |g| and max |g| of its elements. The mean |g| of a
        gradient of more than ``sample`` elements is taken over about ``sample`` of them: evenly
        spaced runs of ROW consecutive elements (it is only drawn, in gradient_flow.png)."""
        v, n = g.reshape(-1), max(g.size, 1)
        ss = _sumsq(v)
        mean = self.sum(v) / n
        stats = {"grad_norm": math.sqrt(ss), "grad_mean": mean,
                 "grad_std": math.sqrt(max(ss / n - mean * mean, 0.0)),
                 "grad_abs_mean": 0.0, "grad_abs_max": 0.0}
        if v.size:
            # max |g| from the largest and the smallest: two reads, no |g| written out
            # (np.maximum, not max(): a NaN is kept)
            stats["grad_abs_max"] = float(np.maximum(v.max(), -v.min()))
            part = v
            if v.size > sample:  # runs of ROW consecutive elements, evenly spaced: whole rows
                m = v.size // ROW  # of a weight matrix, so that no column is left out
                part = v[:m * ROW].reshape(m, ROW)[::-(-m // max(sample // ROW, 1))].reshape(-1)
            absolute = np.abs(part, out=self.get("buffer", part.size, v.dtype))
            stats["grad_abs_mean"] = self.sum(absolute) / absolute.size
        return stats

    def mean_std(self, y: np.ndarray) -> tuple:
        """The mean and standard deviation of all of ``y``'s elements (two passes)."""
        v = y.reshape(-1)
        mean = self.sum(v) / v.size
        centred = np.subtract(v, v.dtype.type(mean), out=self.get("buffer", v.size, v.dtype))
        return mean, math.sqrt(_sumsq(centred) / v.size)


class TrainingMonitor:
    """Per-layer statistics every ``every`` steps and diagnoses; ``log(message)`` says each
    diagnosis once (``log=None``: silent, ``diagnoses`` still kept). See the module's docstring
    for what is measured and the thresholds."""

    VANISHING = 1e-3
    EXPLODING = 1e3
    EXPLODING_NORM = 1e3
    DEAD = 0.5
    SATURATED = 0.5
    UPDATE_RANGE = (1e-5, 1e-1)
    UPDATE_PATIENCE = 3  # recorded steps in a row out of UPDATE_RANGE before it is said
    SAMPLE = 4096  # activation values kept per layer for the histograms (first and last step)
    GRAD_SAMPLE = 1 << 15  # grad_abs_mean of a larger gradient: over about this many elements

    def __init__(self, model, every: int = 10, log=print, *, start: int = 0) -> None:
        """``start``: the number of the first step (a resumed run's global step); that step is
        recorded, then each multiple of ``every``."""
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"TrainingMonitor: every must be a positive integer, got {every!r}")
        self.model, self.every, self.log = model, every, log
        self.records: list = []
        self.diagnoses: list = []
        self.losses: list = []  # the loss of every step
        # histograms' data: {layer: [(step, sample)]}, the first and the latest recorded step
        self.samples: dict = {}
        self.layers: dict = {}  # path -> module, in network order (named_modules)
        self.param_layers: list = []  # paths of the layers with parameters, in that order
        for path, m in model.named_modules():
            own = dict(m.named_parameters(recurse=False))
            if own or type(m).__name__ in ACTIVATION_KINDS:
                name = path or type(m).__name__  # the model itself, if it holds parameters
                self.layers[name] = m
                if own:
                    self.param_layers.append(name)
        self._step = start
        self._scratch = _Scratch()
        self._kept: dict = {}  # the arrays the weights are copied into, reused
        self._handles: list = []
        self._said: set = set()
        self._streak: dict = {}  # (layer, "low" or "high") -> recorded steps out of the band
        self._closed = False
        self._hooks = [(m, self._activation_hook(name)) for name, m in self.layers.items()]
        self._arm()

    # -- the hooks, armed only for a recorded step ------------------------------------------------

    def _arm(self) -> None:
        self._before, self._base, self._acts = {}, {}, {}
        self._capturing = self._forward_done = False
        self._handles = [self.model.register_forward_pre_hook(self._root_pre),
                         self.model.register_forward_hook(self._root_post)]
        for m, hook in self._hooks:
            self._handles.append(m.register_forward_hook(hook))

    def _disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _root_pre(self, module, args) -> None:
        self._capturing = not self._forward_done and is_grad_enabled()
        if self._capturing:  # the weights before this step's update
            self._before = {name: self._copy(name) for name in self.param_layers}

    def _copy(self, name: str) -> np.ndarray:
        """A copy of layer ``name``'s weight, into last time's array where it fits (a new 2 MB
        array each time costs more in page faults than the copy itself)."""
        w = self._weight(name)
        kept = self._kept.get(name)
        if kept is None or kept.shape != w.shape or kept.dtype != w.dtype:
            kept = self._kept[name] = np.empty_like(w)
        self._base[name] = math.sqrt(_sumsq(w))  # ‖w_before‖ (and w in the cache for the copy)
        np.copyto(kept, w)
        return kept

    def _root_post(self, module, args, output) -> None:
        if self._capturing:
            self._capturing, self._forward_done = False, True

    def _activation_hook(self, name: str):
        def hook(module, args, output):
            if self._capturing and name not in self._acts:
                out = output[0] if isinstance(output, (tuple, list)) and output else output
                if isinstance(out, Tensor):
                    self._acts[name] = self._activation_stats(name, out._data)
        return hook

    def _activation_stats(self, name: str, y: np.ndarray) -> dict:
        kind = type(self.layers[name]).__name__
        if y.dtype.kind != "f":  # integer or boolean outputs
            y = y.astype(np.float64)
        mean, std = self._scratch.mean_std(y) if y.size else (None, None)
        stats = {"act_mean": mean, "act_std": std,
                 "finite": y.size == 0 or (math.isfinite(mean) and math.isfinite(std))
                 or bool(np.isfinite(y).all())}  # (std overflows for huge finite values)
        if kind in RELU_KINDS and y.size:
            if y.ndim <= 1:
                alive = y != 0
            else:  # a unit: a feature or channel (axis 1), alive if nonzero anywhere
                # (its outputs are >= 0 or NaN: a unit is alive where its largest is not 0)
                alive = y.max(axis=tuple(a for a in range(y.ndim) if a != 1)) != 0
            stats["dead_frac"] = 1 - np.count_nonzero(alive) / max(alive.size, 1)
        elif kind == "Sigmoid" and y.size:
            stats["saturated_frac"] = np.count_nonzero((y < 0.01) | (y > 0.99)) / y.size
        elif kind == "Tanh" and y.size:
            stats["saturated_frac"] = np.count_nonzero(np.abs(y) > 0.97) / y.size
        flat = y.reshape(-1)  # evenly spaced values, so the monitor draws no random numbers
        stats["sample"] = np.array(flat[::-(-flat.size // self.SAMPLE)], dtype=np.float32)
        return stats

    def _params(self, name: str) -> list:
        """The parameters whose statistics stand for layer ``name``: its weight, else all its
        own parameters."""
        own = self.layers[name]._parameters
        if own.get("weight") is not None:
            return [own["weight"]]
        return [p for p in own.values() if p is not None]

    def _weight(self, name: str) -> np.ndarray:
        ps = self._params(name)
        return ps[0]._data if len(ps) == 1 else np.concatenate([p._data.ravel() for p in ps])

    def _grad(self, name: str):
        ps = self._params(name)
        if any(p.grad is None for p in ps):
            return None
        return ps[0].grad._data if len(ps) == 1 else np.concatenate(
            [p.grad._data.ravel() for p in ps])

    # -- once per step ----------------------------------------------------------------------------

    def step(self, loss) -> None:
        """Call once per training step, after ``optimizer.step()``: checks the loss, and on a
        recorded step reads the gradients and weights, records and diagnoses."""
        value = loss.item() if isinstance(loss, Tensor) else float(loss)
        self.losses.append(value)
        n = self._step
        if not math.isfinite(value):
            self._diagnose(n, "", "nonfinite",
                           f"the loss is {value} at step {n}. Try a lower learning rate, "
                           "gradient clipping (nn.utils.clip_grad_norm_), or look for log(0) or a "
                           "division by zero in the loss.")
        if self._handles:  # a recorded step
            self._disarm()
            self._record(n)
        self._step += 1
        if not self._closed and self._step % self.every == 0:
            self._arm()

    def _record(self, n: int) -> None:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN and Inf are diagnosed instead
            rows, bad = self._measure(n)
        self._last = rows
        self._acts = {}
        self._diagnose_step(n, rows, bad)

    def _measure(self, n: int) -> tuple:
        rows, bad = {}, []
        for name, module in self.layers.items():
            rec = dict.fromkeys(FIELDS)
            rec.update(step=n, layer=name, kind=type(module).__name__)
            if name in self.param_layers:
                w, g = self._weight(name), self._grad(name)
                rec["weight_norm"] = math.sqrt(_sumsq(w))
                if g is not None:
                    rec.update(self._scratch.grad_stats(g, self.GRAD_SAMPLE))
                before = self._before.get(name)
                # no gradient (frozen, or not in this step's loss): its update says nothing
                if g is not None and before is not None and before.shape == w.shape:
                    base = self._base[name]
                    delta = np.subtract(w, before, out=before)  # the copy is not needed after
                    rec["update_ratio"] = math.sqrt(_sumsq(delta)) / base if base > 0 else None
            acts = self._acts.get(name)
            if acts is not None:
                for key in ("act_mean", "act_std", "dead_frac", "saturated_frac"):
                    rec[key] = acts.get(key)
                if not acts["finite"]:
                    bad.append(name)
                kept = self.samples.setdefault(name, [])
                if len(kept) == 2:
                    kept.pop()
                kept.append((n, acts["sample"]))
            rows[name] = rec
            self.records.append(rec)
        return rows, bad

    def latest(self) -> dict:
        """{layer: record} of the last recorded step ({} before the first)."""
        return dict(getattr(self, "_last", {}))

    # -- diagnoses --------------------------------------------------------------------------------

    def _diagnose(self, step: int, layer: str, kind: str, message: str) -> None:
        if kind in self._said:
            return
        self._said.add(kind)
        where = f" in layer '{layer}' ({type(self.layers[layer]).__name__})" if layer else ""
        d = Diagnosis(step, layer, kind, f"monitor, step {step}{where}: {message}")
        self.diagnoses.append(d)
        if self.log is not None:
            self.log(d.message)

    def _diagnose_step(self, n: int, rows: dict, nonfinite_outputs: list) -> None:
        """The diagnoses of a recorded step; ``nonfinite_outputs``: layers whose output held NaN
        or Inf."""
        for name, r in rows.items():
            if name in nonfinite_outputs:
                self._diagnose(n, name, "nonfinite",
                               f"NaN or Inf in the output of {r['kind']} '{name}'. Try a lower "
                               "learning rate, gradient clipping, or check the inputs.")
            g = r["grad_norm"]
            if g is not None and not math.isfinite(g):
                self._diagnose(n, name, "nonfinite",
                               f"NaN or Inf in the gradient of {r['kind']} '{name}'. Try a "
                               "lower learning rate or gradient clipping "
                               "(nn.utils.clip_grad_norm_).")
        norms = [(name, rows[name]["grad_norm"]) for name in self.param_layers
                 if rows[name]["grad_norm"] is not None and math.isfinite(rows[name]["grad_norm"])]
        if len(norms) >= 2:
            (first, g0), (last, g1) = norms[0], norms[-1]
            if g1 > 0 and g0 / g1 < self.VANISHING:
                self._diagnose(n, first, "vanishing", (
                    f"vanishing gradients: the first layer's gradient norm is {g0:.2g}, "
                    f"{g0 / g1:.1g} times the last layer's ('{last}': {g1:.2g}; flagged below "
                    f"{self.VANISHING:g}), so the layers near the input barely learn. Try ReLU "
                    "with He initialisation (nn.init.kaiming_normal_), BatchNorm between the "
                    "layers, residual connections, or fewer layers."))
            if g1 > 0 and g0 / g1 > self.EXPLODING:
                self._diagnose(n, first, "exploding", (
                    f"exploding gradients: the gradient norm grows toward the input, "
                    f"{g1:.2g} at the last layer ('{last}') to {g0:.2g} at the first, "
                    f"{g0 / g1:.2g} times (flagged above {self.EXPLODING:g}). Try smaller "
                    "initial weights (std ~ 1/sqrt(fan_in)), BatchNorm, a lower learning rate "
                    "or gradient clipping (nn.utils.clip_grad_norm_)."))
        for name, g in norms:
            if g > self.EXPLODING_NORM:
                self._diagnose(n, name, "exploding", (
                    f"exploding gradients: gradient norm {g:.2g} (flagged above "
                    f"{self.EXPLODING_NORM:g}). Try a lower learning rate, gradient clipping "
                    "(nn.utils.clip_grad_norm_), smaller initial weights or BatchNorm."))
        dead = [(r["dead_frac"], name) for name, r in rows.items()
                if r["dead_frac"] is not None and r["dead_frac"] > self.DEAD]
        if dead:
            frac, name = max(dead)
            others = [f"'{m}' {f:.0%}" for f, m in dead if m != name]
            self._diagnose(n, name, "dead_relu", (
                f"{frac:.0%} of the ReLU units are dead (0 for the whole batch of this step; "
                f"flagged above {self.DEAD:.0%})" + (f", also {', '.join(others)}" if others
                                                    else "") + ". Dead units get no gradient "
                "and never recover. Try a lower learning rate, He initialisation "
                "(nn.init.kaiming_normal_), or LeakyReLU."))
        sat = [(r["saturated_frac"], name) for name, r in rows.items()
               if r["saturated_frac"] is not None and r["saturated_frac"] > self.SATURATED]
        if sat:
            frac, name = max(sat)
            kind = rows[name]["kind"]
            edge = "|y| > 0.97" if kind == "Tanh" else "y < 0.01 or y > 0.99"
            self._diagnose(n, name, "saturated", (
                f"{frac:.0%} of the {kind} outputs are saturated ({edge}; flagged above "
                f"{self.SATURATED:.0%}), where the derivative is nearly 0. Try smaller initial "
                "weights (Xavier: nn.init.xavier_uniform_), normalised inputs, or BatchNorm "
                "before the activation."))
        # an update ratio is judged once it has been out of the band for UPDATE_PATIENCE
        # recorded steps in a row: early steps (momentum building up) can peak for a moment
        lo, hi = self.UPDATE_RANGE
        for name, r in rows.items():
            u = r["update_ratio"]
            for side, out in (("low", u is not None and u < lo),
                              ("high", u is not None and u > hi)):
                self._streak[name, side] = self._streak.get((name, side), 0) + 1 if out else 0
        for side, kind in (("low", "small_updates"), ("high", "large_updates")):
            far = [(rows[name]["update_ratio"], name) for name in rows
                   if self._streak.get((name, side), 0) >= self.UPDATE_PATIENCE]
            if not far:
                continue
            u, name = min(far) if side == "low" else max(far)
            steps = f"at {self.UPDATE_PATIENCE} recorded steps in a row"
            many = f", in {len(far)} layers" if len(far) > 1 else ""
            if side == "low":
                self._diagnose(n, name, kind, (
                    f"the update ‖Δw‖/‖w‖ is {u:.2g}, below {lo:g} {steps}{many} (about 1e-3 is "
                    "healthy): the weights barely move. Try a higher learning rate; if the "
                    "gradients vanish, fix that first."))
            else:
                self._diagnose(n, name, kind, (
                    f"the update ‖Δw‖/‖w‖ is {u:.2g}, above {hi:g} {steps}{many} (about 1e-3 is "
                    "healthy): each step changes the weights a lot. Try a lower learning rate."))

    # -- the end ----------------------------------------------------------------------------------

    def save_plots(self, out_dir) -> list:
        """gradient_flow.png, update_ratio.png, activations.png and dead_units.png in
        ``out_dir``; returns their paths. Needs matplotlib."""
        from . import monitor_plots
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f for f in ("gradient_flow.png", "update_ratio.png", "activations.png",
                                   "dead_units.png")]
        monitor_plots.plot_gradient_flow(self, paths[0])
        monitor_plots.plot_update_ratio(self, paths[1])
        monitor_plots.plot_activations(self, paths[2])
        monitor_plots.plot_dead_units(self, paths[3])
        return paths

    def remove(self) -> None:
        """Remove every hook, now and for good: later ``step()`` calls only check the loss."""
        self._closed = True
        self._disarm()

    def __enter__(self) -> "TrainingMonitor":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return (f"TrainingMonitor(every={self.every}, {len(self.layers)} layers, step "
                f"{self._step}, {len(self.diagnoses)} diagnoses)")
