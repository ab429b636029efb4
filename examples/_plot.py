"""A loss curve for the demos, with Matplotlib if it is installed (an optional extra)."""

from __future__ import annotations

from pathlib import Path


def plot_loss(losses, path, title: str, log: bool = True):
    """Save a plot of ``losses`` against the iteration to ``path``; return the path, or None when
    Matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return None
    fig = Figure(figsize=(5, 3.2), layout="tight")
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), losses, color="#2e7d32")
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)


def save_plot(demo, losses, out_dir, filename, title, log=True) -> None:
    """Plot into ``out_dir`` (if given) and tell the demo's reader where, or why not."""
    if out_dir is None:
        return
    demo.saved(plot_loss(losses, Path(out_dir) / filename, title, log), "the loss curve")
