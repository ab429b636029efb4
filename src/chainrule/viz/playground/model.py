"""What the playground computes, without the web server: the 2-D data sets, the input features,
the network, its training by minibatch SGD, and the backward pass of the last batch.

Everything is chainrule: the network is ``h = act(h @ W + b)`` per layer, the loss binary
cross-entropy on the output's logit plus ``l2 / 2 · Σ W²``, and ``loss.backward()`` gives the
gradients the SGD step uses. The backward pass of the batch last trained on is kept (the batch
and the weights before the step) so that it can be explained afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F

DATASETS = ("circle", "xor", "gauss", "spiral")
# name -> (label, function of x1, x2)
FEATURES = {
    "x1": ("x1", lambda a, b: a), "x2": ("x2", lambda a, b: b),
    "x1sq": ("x1²", lambda a, b: a * a), "x2sq": ("x2²", lambda a, b: b * b),
    "x1x2": ("x1·x2", lambda a, b: a * b),
    "sinx1": ("sin(x1)", lambda a, b: np.sin(a)), "sinx2": ("sin(x2)", lambda a, b: np.sin(b)),
}
ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
RANGE = 6.0          # the plane shown: [-6, 6]²
BOUNDARY_GRID = 64   # the decision boundary's image: 64 × 64
NEURON_GRID = 24     # each neuron's heat map: 24 × 24
MAX_LAYERS, MAX_UNITS = 6, 16
MAX_POINTS = 2000
MAX_STEPS_PER_REQUEST = 200
HISTORY = 2000       # loss curve points kept (older ones thinned)


class ConfigError(ValueError):
    """A setting the playground cannot use; the message says which and what is allowed."""


class Diverged(ArithmeticError):
    """A training step whose loss or new weights are not finite numbers: the step is undone."""


@dataclass
class Config:
    dataset: str = "circle"
    noise: float = 0.1         # 0 to 0.5: the data's noise, as a fraction of its size
    points: int = 400
    train_ratio: float = 0.5   # the rest is the test set
    features: list = field(default_factory=lambda: ["x1", "x2"])
    hidden: list = field(default_factory=lambda: [4, 2])
    activation: str = "tanh"
    lr: float = 0.1
    batch_size: int = 10
    l2: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, given) -> "Config":
        """A Config from a dict of settings (as the page sends them: numbers may be strings);
        raises ConfigError naming every setting that is wrong."""
        if not isinstance(given, dict):
            raise ConfigError("the settings must be a JSON object, e.g. {\"dataset\": \"xor\"}")
        c, errors = cls(), []
        known = set(c.__dict__)
        for key in given:
            if key not in known:
                errors.append(f"unknown setting {key!r}; the settings are "
                              f"{', '.join(sorted(known))}")

        def number(key, low, high, kind=float):
            if key not in given:
                return getattr(c, key)
            raw = given[key]
            try:
                if isinstance(raw, bool):
                    raise ValueError
                value = kind(raw) if kind is float else int(str(raw).strip())
            except (TypeError, ValueError):
                what = "a number" if kind is float else "a whole number"
                if isinstance(raw, str) and not raw.strip():  # the page's number box left empty
                    errors.append(f"{key}: empty (or not a number); give {what} from {low:g} "
                                  f"to {high:g}")
                else:
                    errors.append(f"{key}: {raw!r} is not {what}")
                return getattr(c, key)
            if not (math.isfinite(value) and low <= value <= high):
                errors.append(f"{key}: {raw} is out of range; give a number from {low:g} to "
                              f"{high:g}")
                return getattr(c, key)
            return value

        def choice(key, allowed):
            value = given.get(key, getattr(c, key))
            if value not in allowed:
                errors.append(f"{key}: {value!r} is not one of {', '.join(allowed)}")
                return getattr(c, key)
            return value

        c.dataset = choice("dataset", DATASETS)
        c.activation = choice("activation", ACTIVATIONS)
        c.noise = number("noise", 0.0, 0.5)
        c.points = number("points", 20, MAX_POINTS, int)
        c.train_ratio = number("train_ratio", 0.1, 0.9)
        c.lr = number("lr", 1e-5, 10.0)
        c.l2 = number("l2", 0.0, 1.0)
        c.seed = number("seed", 0, 2 ** 31 - 1, int)
        n_train = max(1, round(c.points * c.train_ratio))
        c.batch_size = number("batch_size", 1, MAX_POINTS, int)
        if c.batch_size > n_train:
            errors.append(f"batch_size: {c.batch_size} is more than the {n_train} training points; "
                          f"give at most {n_train}")
        features = given.get("features", c.features)
        if isinstance(features, str):
            features = [f for f in features.replace(",", " ").split() if f]
        if not isinstance(features, list) or not features:
            errors.append("features: choose at least one input feature")
        else:
            bad = [f for f in features if f not in FEATURES]
            if bad:
                errors.append(f"features: {', '.join(map(repr, bad))} unknown; choose from "
                              f"{', '.join(FEATURES)}")
            else:
                c.features = list(dict.fromkeys(features))
        c.hidden = _hidden(given.get("hidden", c.hidden), errors, c.hidden)
        if errors:
            raise ConfigError("; ".join(errors))
        return c


def _hidden(raw, errors, default) -> list:
    """Hidden layer widths from [4, 2], "4, 2" or "" (none)."""
    if isinstance(raw, str):
        parts = [p for p in raw.replace(",", " ").split() if p]
    elif isinstance(raw, list):
        parts = raw
    else:
        errors.append(f"hidden: {raw!r} is not a list of layer widths such as 4, 2")
        return default
    widths = []
    for k, p in enumerate(parts, 1):
        try:
            if isinstance(p, bool):
                raise ValueError
            n = int(str(p).strip())
        except ValueError:
            errors.append(f"hidden layer {k}: {p!r} is not a whole number of units")
            return default
        if not 1 <= n <= MAX_UNITS:
            errors.append(f"hidden layer {k}: {n} units is {'too many' if n > 0 else 'too few'}; "
                          f"give 1 to {MAX_UNITS} units per layer")
            return default
        widths.append(n)
    if len(widths) > MAX_LAYERS:
        errors.append(f"hidden: {len(widths)} layers is too many; give at most {MAX_LAYERS}")
        return default
    return widths


def make_data(name: str, n: int, noise: float, rng) -> tuple:
    """``n`` points of the 2-D data set ``name`` in [-6, 6]², labels 0 and 1."""
    half = n // 2
    if name == "circle":
        r = np.concatenate([rng.uniform(0, 2.5, half), rng.uniform(3.5, 5, n - half)])
        a = rng.uniform(0, 2 * np.pi, n)
        x = np.stack([r * np.cos(a), r * np.sin(a)], 1)
        y = (np.arange(n) < half).astype(np.float64)  # inside: 1
        x += rng.uniform(-5, 5, x.shape) * noise
    elif name == "xor":
        x = rng.uniform(-5, 5, (n, 2))
        x += np.sign(x) * 0.3  # a gap along the axes
        y = (x[:, 0] * x[:, 1] > 0).astype(np.float64)
        x += rng.uniform(-5, 5, x.shape) * noise
    elif name == "gauss":
        y = (np.arange(n) < half).astype(np.float64)
        centre = np.where(y[:, None] == 1, 2.0, -2.0)
        x = centre + rng.normal(0, 1.0 + 4 * noise, (n, 2))
    elif name == "spiral":
        t = np.concatenate([np.linspace(0, 1, half), np.linspace(0, 1, n - half)])
        y = (np.arange(n) < half).astype(np.float64)
        r = 5 * t
        a = 1.75 * t * 2 * np.pi + np.where(y == 1, 0, np.pi)
        x = np.stack([r * np.sin(a), r * np.cos(a)], 1) + rng.uniform(-1, 1, (n, 2)) * 5 * noise
    else:
        raise ConfigError(f"dataset: {name!r} is not one of {', '.join(DATASETS)}")
    return np.clip(x, -RANGE, RANGE), y


def features(points: np.ndarray, names: list) -> np.ndarray:
    """The input features (columns) of 2-D points (rows)."""
    a, b = points[:, 0], points[:, 1]
    return np.stack([FEATURES[f][1](a, b) for f in names], 1)


def grid(n: int) -> np.ndarray:
    """The centres of an n × n grid over the plane, row by row from the top (x2 = 6) down."""
    c = np.linspace(-RANGE, RANGE, n, endpoint=False) + RANGE / n
    x1, x2 = np.meshgrid(c, c[::-1])
    return np.stack([x1.ravel(), x2.ravel()], 1)


ACT = {"tanh": lambda h: h.tanh(), "relu": lambda h: h.relu(), "sigmoid": lambda h: h.sigmoid(),
       "linear": lambda h: h}


class Session:
    """One network on one data set, trained one minibatch at a time."""

    def __init__(self, config: Config):
        self.config = c = config
        rng = np.random.default_rng(c.seed)
        points, labels = make_data(c.dataset, c.points, c.noise, rng)
        order = rng.permutation(c.points)
        n_train = max(1, round(c.points * c.train_ratio))
        self.train_idx, self.test_idx = order[:n_train], order[n_train:]
        self.points, self.labels = points, labels
        self.inputs = features(points, c.features)
        sizes = [len(c.features), *c.hidden, 1]
        self.params = []  # [(W, b)], W of shape (inputs, units): W[i, j] joins input i to unit j
        for k, (m, n) in enumerate(zip(sizes, sizes[1:]), 1):
            W = cr.tensor(rng.normal(0, math.sqrt(1.0 / m), (m, n)), requires_grad=True)
            b = cr.tensor(np.zeros(n), requires_grad=True)
            self.params.append((W, b))
        self.rng = rng
        self.step_count = 0
        self._queue = np.array([], dtype=int)
        self.history = {"step": [], "train": [], "test": []}
        self.last = None  # (batch indices, weights before the step) of the last step
        self._record()

    def names(self) -> dict:
        """W1, b1, W2, ...: the parameters by the names the page and the explanation use."""
        out = {}
        for k, (W, b) in enumerate(self.params, 1):
            out[f"W{k}"], out[f"b{k}"] = W, b
        return out

    def forward(self, x, params=None, keep=False):
        """The output logit (a column: one row per row of ``x``); with ``keep``, also every
        layer's output."""
        h, outs = x, []
        params = params or self.params
        for k, (W, b) in enumerate(params):
            h = h @ W + b
            if k < len(params) - 1:
                h = ACT[self.config.activation](h)
            outs.append(h)
        return (h, outs) if keep else h

    def loss(self, idx, params=None, names=None):
        """Binary cross-entropy of the points ``idx``, plus l2 / 2 · Σ W² over the weights.
        ``names``: a dict that gets the batch's inputs ``x`` and labels ``t``."""
        params = params or self.params
        # the labels a column as the logits, so that the explanation has no reshape in it
        x, t = cr.tensor(self.inputs[idx]), cr.tensor(self.labels[idx].reshape(-1, 1))
        if names is not None:
            names.update(x=x, t=t)
        loss = F.binary_cross_entropy_with_logits(self.forward(x, params), t)
        if self.config.l2 > 0:  # Σ W1² + Σ W2² + ..., written as in maths (no 0 + to start)
            squares = [(W ** 2).sum() for W, _ in params]
            penalty = squares[0]
            for sq in squares[1:]:
                penalty = penalty + sq
            loss = loss + self.config.l2 / 2 * penalty
        return loss

    def _batch(self) -> np.ndarray:
        n = self.config.batch_size
        if len(self._queue) < n:  # a new epoch: the training points shuffled
            self._queue = np.concatenate([self._queue, self.rng.permutation(self.train_idx)])
        idx, self._queue = self._queue[:n], self._queue[n:]
        return idx

    def step(self, n: int = 1) -> None:
        """``n`` steps of SGD, each on the next minibatch. A step whose loss or new weights are
        not finite is undone and raises ``Diverged`` (the steps before it are kept)."""
        for _ in range(n):
            idx = self._batch()
            before = [(W._data.copy(), b._data.copy()) for W, b in self.params]
            loss = self.loss(idx)
            for W, b in self.params:
                W.grad = b.grad = None
            loss.backward()
            with cr.no_grad():
                for W, b in self.params:
                    W -= self.config.lr * W.grad
                    b -= self.config.lr * b.grad
            value = float(loss.item())
            finite = all(np.isfinite(p._data).all() for pair in self.params for p in pair)
            train = self.evaluate(self.train_idx) if finite else float("nan")
            if not (math.isfinite(value) and finite and math.isfinite(train)):
                with cr.no_grad():
                    for (W, b), (W0, b0) in zip(self.params, before):
                        W._data[...], b._data[...] = W0, b0
                what = (f"the batch's loss was {value:.4g}" if not math.isfinite(value) else
                        "the new weights were not all finite numbers" if not finite else
                        "the loss on the training points was no longer a finite number")
                raise Diverged(
                    f"training diverged at step {self.step_count + 1}: {what}, so that step "
                    f"was undone. Lower the learning rate (now {self.config.lr:g}) and press "
                    f"apply.")
            self.step_count += 1
            self.last = (idx, before)
            self._record(train)

    def evaluate(self, idx) -> float:
        if len(idx) == 0:
            return float("nan")
        with cr.no_grad():
            return float(self.loss(idx).item())

    def _record(self, train: float | None = None) -> None:
        h = self.history
        h["step"].append(self.step_count)
        h["train"].append(self.evaluate(self.train_idx) if train is None else train)
        h["test"].append(self.evaluate(self.test_idx))
        if len(h["step"]) > HISTORY:  # thin the older half
            for key in h:
                h[key] = h[key][:HISTORY // 2:2] + h[key][HISTORY // 2:]

    def last_backward(self, explain: bool = True) -> dict | None:
        """The backward pass of the batch the last step trained on, with the weights it saw:
        each parameter's gradient, and the chain rule step by step (``explain``)."""
        if self.last is None:
            return None
        idx, before = self.last
        params = [(cr.tensor(W, requires_grad=True), cr.tensor(b, requires_grad=True))
                  for W, b in before]
        names, data = {}, {}
        for k, (W, b) in enumerate(params, 1):
            names[f"W{k}"], names[f"b{k}"] = W, b
        loss = self.loss(idx, params, data)
        loss.backward()
        out = {"step": self.step_count, "batch": [int(i) for i in idx], "loss": float(loss.item()),
               "grads": [{"W": W.grad._data.tolist(), "b": b.grad._data.tolist()}
                         for W, b in params],
               "weights": [{"W": W.tolist(), "b": b.tolist()} for W, b in before]}
        if explain:
            from ..explain import explain as explain_
            e = explain_(loss, wrt=names, names={**names, **data, "L": loss}, format="steps")
            out["explanation"] = e.text()
            out["steps"] = [s.text for s in e]
        self._kept = (self.step_count, loss, {**names, **data, "L": loss})
        return out

    def explore_page(self) -> str | None:
        """The last batch's backward pass as ``cr.viz.explore``'s page."""
        if self.last is None:
            return None
        if getattr(self, "_kept", (None,))[0] != self.step_count:
            self.last_backward(explain=False)
        _, loss, names = self._kept
        from ..explore import explore
        return explore(loss, names=names,
                       title=f"Playground step {self.step_count}: the backward pass of its "
                             f"batch of {len(self.last[0])}").html

    def state(self, full: bool = False) -> dict:
        """What the page draws: the losses, the decision boundary, every neuron's output as a
        small heat map, the weights; with ``full``, the data points too."""
        c = self.config
        with cr.no_grad():
            g = grid(BOUNDARY_GRID)
            p = self.forward(cr.tensor(features(g, c.features))).sigmoid()._data.reshape(-1)
            small = features(grid(NEURON_GRID), c.features)
            _, outs = self.forward(cr.tensor(small), keep=True)
        neurons = [[_round(small[:, j]) for j in range(small.shape[1])]]
        for h in outs[:-1]:
            neurons.append([_round(h._data[:, j]) for j in range(h.shape[1])])
        neurons.append([_round(1 / (1 + np.exp(-outs[-1]._data[:, 0])))])
        h = self.history
        out = {"step": self.step_count, "trainLoss": _num(h["train"][-1]),
               "testLoss": _num(h["test"][-1]),
               "history": {k: [_num(v) for v in vals] for k, vals in h.items()},
               "boundary": _round(p, 3), "boundaryGrid": BOUNDARY_GRID,
               "neurons": neurons, "neuronGrid": NEURON_GRID,
               "weights": [{"W": W._data.round(4).tolist(), "b": b._data.round(4).tolist()}
                           for W, b in self.params],
               "layers": [[FEATURES[f][0] for f in c.features]] + [[f"h{k}.{j + 1}" for j in
                                                                     range(n)] for k, n in
                                                                    enumerate(c.hidden, 1)]
               + [["output"]],
               "activation": c.activation}
        if full:
            out["points"] = np.round(self.points, 3).tolist()
            out["labels"] = self.labels.astype(int).tolist()
            out["train"] = [int(i) for i in self.train_idx]
            out["config"] = dict(c.__dict__)
        return out


def _round(a, digits: int = 3) -> list:
    """Rounded, as JSON can carry it: an overflow (inf) or nan becomes None (null)."""
    a = np.round(np.asarray(a, dtype=np.float64), digits)
    if np.isfinite(a).all():
        return a.tolist()
    return np.where(np.isfinite(a), a, None).tolist()


def _num(v):
    return None if not math.isfinite(v) else round(v, 5)
