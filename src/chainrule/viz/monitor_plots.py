"""The training monitor's pictures (matplotlib, an extra): gradient flow, update ratios,
activation histograms, dead units. Each takes a ``TrainingMonitor`` and a path, writes the PNG
and returns the (closed) matplotlib figure, whose axes hold the data drawn."""

from __future__ import annotations

import numpy as np

from .plots import _pyplot, _save

UPDATE_TARGET = 1e-3  # Karpathy's rule of thumb for ‖Δw‖/‖w‖


def _at(monitor, step: int) -> dict:
    return {r["layer"]: r for r in monitor.records if r["step"] == step}


def _steps(monitor) -> list:
    return sorted({r["step"] for r in monitor.records})


def _label(monitor, name: str) -> str:
    return f"{name}: {type(monitor.layers[name]).__name__}"


def _colors(plt, n: int) -> list:
    """Distinct colours for ``n`` layers: tab10 up to ten, else viridis without its pale end."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    return [plt.get_cmap("viridis")(0.9 * i / (n - 1)) for i in range(n)]


def _positive(values) -> np.ndarray:
    """Values for a log axis: None and values <= 0 become NaN (not drawn)."""
    a = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    a[~(a > 0)] = np.nan
    return a


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set(xticks=[], yticks=[])


def plot_gradient_flow(monitor, path, step: int | None = None):
    """Max and mean |∂L/∂w| per layer with parameters, at ``step`` (default: the last recorded
    one), the input's layer at the left, on a log scale; the mean at the first recorded step as
    a dashed line for comparison."""
    plt = _pyplot()
    steps = _steps(monitor)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(monitor.param_layers) + 2), 4.2))
    if not steps or not monitor.param_layers:
        _empty(ax, "nothing recorded yet" if not steps else "no layer with parameters")
        _save(fig, path)
        return fig
    step = steps[-1] if step is None else step
    rows = _at(monitor, step)
    names = monitor.param_layers
    x = np.arange(len(names))
    top = _positive([rows[n]["grad_abs_max"] for n in names])
    mean = _positive([rows[n]["grad_abs_mean"] for n in names])
    ax.bar(x, top, width=0.7, color="#90caf9", label=f"max |gradient|, step {step}")
    ax.bar(x, mean, width=0.7, color="#1565c0", label=f"mean |gradient|, step {step}")
    if steps[0] != step:
        first = _at(monitor, steps[0])
        ax.plot(x, _positive([first[n]["grad_abs_mean"] for n in names]), "o--", color="#e65100",
                ms=4, label=f"mean |gradient|, step {steps[0]}")
    ax.set_yscale("log")
    ax.set_xticks(x, [_label(monitor, n) for n in names], rotation=45 if len(names) > 6 else 0,
                  ha="right" if len(names) > 6 else "center")
    ax.set(xlabel="layer (input at left)", ylabel="|∂L/∂weight| (log scale)",
           title="gradient flow: how much gradient reaches each layer")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    return fig


def plot_update_ratio(monitor, path):
    """‖Δw‖/‖w‖ per layer over the recorded steps, log scale; a dashed line at 1e-3 and the
    band the monitor finds healthy shaded."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    lo, hi = monitor.UPDATE_RANGE
    drawn = 0
    names = monitor.param_layers
    colors = _colors(plt, len(names))
    for i, name in enumerate(names):
        rec = [r for r in monitor.records if r["layer"] == name and r["update_ratio"] is not None]
        if not rec:
            continue
        ax.plot([r["step"] for r in rec], _positive([r["update_ratio"] for r in rec]),
                color=colors[i], lw=1.5, label=_label(monitor, name))
        drawn += 1
    if not drawn:
        _empty(ax, "no update recorded yet")
        _save(fig, path)
        return fig
    ax.axhspan(lo, hi, color="#a5d6a7", alpha=0.25, lw=0, label=f"healthy band {lo:g} to {hi:g}")
    ax.axhline(UPDATE_TARGET, color="black", ls="--", lw=1, label="1e-3 (rule of thumb)")
    ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel="update / weight  ‖Δw‖/‖w‖ (log scale)",
           title="update-to-weight ratio per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return fig


def plot_activations(monitor, path, step: int | None = None):
    """Histograms of the activation modules' outputs (or, in a network without any, of the
    layers' outputs) at ``step`` (default: the last recorded one), one line per layer, with
    each layer's mean, std and saturated or dead share in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    names = [n for n in monitor.samples if type(monitor.layers[n]).__name__ in _activation_kinds()]
    names = names or [n for n in monitor.samples]
    steps = _steps(monitor)
    if not names or not steps:
        _empty(ax, "no activation recorded yet")
        _save(fig, path)
        return fig
    step = steps[-1] if step is None else step
    rows = _at(monitor, step)
    colors = _colors(plt, len(names))
    kinds = set()
    lines = []  # (colour, label, values drawn, how many values in the sample)
    for i, name in enumerate(names):
        sample = dict(monitor.samples[name]).get(step)
        if sample is None:
            continue
        total = sample.size
        sample = sample[np.isfinite(sample)]
        r = rows[name]
        kinds.add(r["kind"])
        extra = ""
        if r["saturated_frac"] is not None:
            extra = f", saturated {100 * r['saturated_frac']:.1f}%"
        elif r["dead_frac"] is not None:
            # the spike of zeros would flatten the rest: its share goes in the legend instead
            extra = f", zeros {100 * np.mean(sample == 0):.0f}%, dead {100 * r['dead_frac']:.1f}%"
            sample = sample[sample != 0]
        lines.append((colors[i], f"{_label(monitor, name)}: mean {r['act_mean']:+.2f}, "
                      f"std {r['act_std']:.2f}{extra}", sample, total))
    drawn = [s for *_, s, _ in lines if s.size]
    edges = np.histogram_bin_edges(np.concatenate(drawn), bins=60) if drawn else None
    for color, label, sample, total in lines:  # the same bins for all: comparable heights
        if sample.size:
            counts, _ = np.histogram(sample, bins=edges)
            inside = (edges[1:] >= sample.min()) & (edges[:-1] <= sample.max())  # its own range
            ax.plot(((edges[:-1] + edges[1:]) / 2)[inside], (counts / total)[inside], color=color,
                    lw=1.3, label=label)
    relu = bool(kinds & {"ReLU", "ReLU6"})
    ax.set(xlabel="output value" + (" (the ReLUs' zeros left out)" if relu else ""),
           ylabel="share of the outputs per bin",
           title=f"activation histograms at step {step} ({', '.join(sorted(kinds))} outputs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return fig


def _activation_kinds():
    from .monitor import ACTIVATION_KINDS
    return ACTIVATION_KINDS


def plot_dead_units(monitor, path):
    """The share of dead units (0 for a whole batch) per ReLU module over the recorded steps,
    with the monitor's threshold dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    names = [n for n in monitor.layers if type(monitor.layers[n]).__name__ in ("ReLU", "ReLU6")]
    colors = _colors(plt, len(names))
    drawn = 0
    for i, name in enumerate(names):
        rec = [r for r in monitor.records if r["layer"] == name and r["dead_frac"] is not None]
        if rec:
            ax.plot([r["step"] for r in rec], [100 * r["dead_frac"] for r in rec], "o-", ms=3,
                    color=colors[i], label=_label(monitor, name))
            drawn += 1
    if not drawn:
        _empty(ax, "no ReLU module in this network" if not names else "nothing recorded yet")
        ax.set_title("dead ReLU units")
        _save(fig, path)
        return fig
    ax.axhline(100 * monitor.DEAD, color="#c62828", ls="--", lw=1,
               label=f"{100 * monitor.DEAD:.0f}%: diagnosed")
    ax.set(xlabel="training step", ylabel="dead units (%)", ylim=(-2, 102),
           title="dead ReLU units (0 for the whole batch) per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return fig
