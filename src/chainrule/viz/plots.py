"""Training plots with matplotlib (an extra): loss and accuracy curves, a confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_write


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install matplotlib "
                          "(or pip install 'chainrule[train]')") from e
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> None:
    plt = _pyplot()
    fmt = Path(path).suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight"))
    plt.close(fig)


def plot_history(history: list, path) -> None:
    """Train and validation loss (left) and accuracy (right) per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * h["train_acc"] for h in history], "o-", label="train")
    if any(h["val_loss"] is not None for h in history):  # None: trained without validation
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
        ax_acc.plot(epochs, [100 * h["val_acc"] for h in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_confusion(confusion: np.ndarray, path, classes=None) -> None:
    """The confusion matrix: rows are the true class, columns the predicted one."""
    _save(confusion_figure(confusion, classes), path)


def confusion_figure(confusion: np.ndarray, classes=None):
    """plot_confusion's matplotlib figure (for TensorBoard's ``add_figure``)."""
    plt = _pyplot()
    n = confusion.shape[0]
    classes = classes or [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(6, 5.5))
    im = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true",
           title=f"confusion matrix (accuracy {100 * np.trace(confusion) / max(confusion.sum(), 1):.2f}%)")
    high = confusion.max() / 2 if confusion.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if confusion[i, j] > high else "black")
    return fig
