"""The training loop behind ``chainrule train``: seeded, resumable, interruptible with Ctrl-C."""

from __future__ import annotations

import csv
import io
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .. import nn, optim
from ..autograd.grad_mode import no_grad
from ..data import DataLoader, TensorDataset, random_split
from ..nn import functional as F
from ..random import Generator, get_rng_state, manual_seed, set_rng_state
from .._io import atomic_write_text
from ..serialization import load, save
from .models import build_model

DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3}


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    model: str = "mlp"
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None  # None: 0.05 for SGD, 0.001 for Adam
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    data_dir: str | None = None
    out: str = "runs/mnist"
    val_size: int = 5000
    progress: bool = True
    plots: bool = True
    download: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class TrainingInterrupted(Exception):
    """Ctrl-C stopped training; a resumable checkpoint was saved at ``path``."""

    def __init__(self, path):
        super().__init__(f"training interrupted; resumable checkpoint saved to {path}")
        self.path = path


# -- data -------------------------------------------------------------------------------------

def load_dataset(name: str, root, train: bool, download: bool = False):
    """The normalised images (N, 1, 28, 28) float32 and labels of MNIST or Fashion-MNIST."""
    from ..datasets import FashionMNIST, MNIST
    kinds = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "fashionmnist": FashionMNIST}
    if name not in kinds:
        raise ValueError(f"unknown dataset {name!r}: choose mnist or fashion-mnist")
    ds = kinds[name](root=root, train=train, download=download)
    images, labels = ds._arrays()
    images = (images - np.float32(ds.mean)) / np.float32(ds.std)
    return TensorDataset(images, labels)


def make_optimizer(cfg: TrainConfig, params):
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer]
    if cfg.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                         weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: choose sgd or adam")


# -- evaluation -------------------------------------------------------------------------------

@no_grad()
def evaluate_model(model: nn.Module, dataset, batch_size: int = 1000, num_classes: int = 10):
    """Mean cross-entropy, accuracy and the confusion matrix (rows: true class, columns:
    predicted) of ``model`` on ``dataset``."""
    was_training = model.training
    model.eval()
    total_loss, confusion = 0.0, np.zeros((num_classes, num_classes), np.int64)
    for x, y in DataLoader(dataset, batch_size=batch_size):
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        np.add.at(confusion, (y._data, logits._data.argmax(1)), 1)
    model.train(was_training)
    n = confusion.sum()
    return total_loss / max(n, 1), float(np.trace(confusion) / max(n, 1)), confusion


# -- checkpoints ------------------------------------------------------------------------------

def load_checkpoint(path):
    """Load a checkpoint written by ``train`` and rebuild its model (weights loaded)."""
    ckpt = load(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{path}: not a chainrule training checkpoint (no 'model' and 'config')")
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model)
    model.load_state_dict(ckpt["model"])
    return model, cfg, ckpt


class _StopFlag:
    """The first Ctrl-C asks the loop to stop after the current step; a second one stops now."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread: no handler, Ctrl-C behaves as usual
            self.previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _progress(total, initial, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True,
                file=sys.stderr, disable=None)


def _write_metrics(path: Path, history: list) -> None:
    buf = io.StringIO()
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row[k] for k in cols})
    atomic_write_text(path, buf.getvalue())


# -- the loop ---------------------------------------------------------------------------------

def train(cfg: TrainConfig, resume=None, data=None, log=print, on_step=None) -> dict:
    """Train ``cfg.model`` on ``cfg.dataset``; returns the history and the test results.

    ``data`` = (train, test) datasets replaces the files (tests use small generated data).
    ``on_step(epoch, step)`` is called after each optimizer step (tests use it to interrupt).
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.npz"
    state = load(resume) if resume else None
    if state is not None:
        saved_cfg = TrainConfig.from_dict(state["config"])  # the run's own settings...
        saved_cfg.out, saved_cfg.progress = cfg.out, cfg.progress  # ...but where and how to show it
        saved_cfg.plots, saved_cfg.download = cfg.plots, cfg.download
        if cfg.epochs is not None:
            saved_cfg.epochs = cfg.epochs
        if cfg.data_dir:
            saved_cfg.data_dir = cfg.data_dir
        cfg = saved_cfg

    if data is None:
        full_train = load_dataset(cfg.dataset, cfg.data_dir, train=True, download=cfg.download)
        test_set = load_dataset(cfg.dataset, cfg.data_dir, train=False, download=cfg.download)
    else:
        full_train, test_set = data
    val_size = min(cfg.val_size, len(full_train) // 5)
    train_set, val_set = random_split(full_train, [len(full_train) - val_size, val_size],
                                      generator=Generator(cfg.seed))

    manual_seed(cfg.seed)
    model = build_model(cfg.model)
    opt = make_optimizer(cfg, model.parameters())
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    shuffle = Generator(cfg.seed + 1)
    epoch, step, history = 0, 0, []
    sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
    epoch_shuffle_state = shuffle.get_state()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        opt._opt_called = True  # it stepped before the checkpoint: no scheduler-order warning
        if sched.T_max != cfg.epochs:  # training extended (or shortened) with --epochs
            log(f"the cosine schedule now ends at epoch {cfg.epochs} instead of {sched.T_max}")
            sched.T_max = cfg.epochs
        set_rng_state(state["rng"]["global"])
        epoch, step, history = state["epoch"], state["step"], list(state["history"])
        sums = dict(state["sums"])
        epoch_shuffle_state = state["rng"]["epoch_shuffle"]
        log(f"resumed from {resume}: epoch {epoch + 1}, step {step}")

    def checkpoint(epoch_, step_, path=ckpt_path):
        save({"model": model.state_dict(), "optimizer": opt.state_dict(),
              "scheduler": sched.state_dict(), "config": asdict(cfg), "epoch": epoch_,
              "step": step_, "history": history, "sums": sums,
              "rng": {"global": get_rng_state(), "epoch_shuffle": epoch_shuffle_state}}, path)

    log(f"training {cfg.model} on {cfg.dataset}: {len(train_set)} train / {len(val_set)} "
        f"validation / {len(test_set)} test images, {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"{cfg.optimizer} lr {opt.param_groups[0]['lr']:g}")
    with _StopFlag() as stop:
        while epoch < cfg.epochs:
            shuffle.set_state(epoch_shuffle_state)  # the epoch's order, also after a resume
            loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=shuffle)
            bar = _progress(len(loader), step, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
            model.train()
            start = time.perf_counter()
            for i, (x, y) in enumerate(loader):
                if i < step:
                    continue
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n = len(y)
                sums["loss"] += loss.item() * n
                sums["correct"] += int((logits._data.argmax(1) == y._data).sum())
                sums["seen"] += n
                step = i + 1
                if bar is not None:
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f"{sums['loss'] / sums['seen']:.4f}",
                                        acc=f"{100 * sums['correct'] / sums['seen']:.2f}%")
                if on_step is not None:
                    on_step(epoch, step)
                if stop.requested:
                    sums["seconds"] += time.perf_counter() - start
                    if bar is not None:
                        bar.close()
                    checkpoint(epoch, step)
                    log(f"\ninterrupted at epoch {epoch + 1}, step {step}: saved {ckpt_path}\n"
                        f"resume with: chainrule train --resume {ckpt_path}")
                    raise TrainingInterrupted(ckpt_path)
            if bar is not None:
                bar.close()
            seconds = sums["seconds"] + time.perf_counter() - start
            val_loss, val_acc, _ = evaluate_model(model, val_set)
            lr = opt.param_groups[0]["lr"]
            sched.step()
            history.append({"epoch": epoch + 1, "train_loss": sums["loss"] / max(sums["seen"], 1),
                            "train_acc": sums["correct"] / max(sums["seen"], 1),
                            "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                            "seconds": round(seconds, 3)})
            h = history[-1]
            log(f"epoch {epoch + 1:>2}/{cfg.epochs}  train loss {h['train_loss']:.4f} acc "
                f"{100 * h['train_acc']:.2f}%  val loss {val_loss:.4f} acc {100 * val_acc:.2f}%  "
                f"lr {lr:.4g}  {seconds:.1f} s")
            epoch, step = epoch + 1, 0
            sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            _write_metrics(out / "metrics.csv", history)
            epoch_shuffle_state = shuffle.get_state()  # where the next epoch's order starts
            checkpoint(epoch, 0)

    test_loss, test_acc, confusion = evaluate_model(model, test_set)
    log(f"test loss {test_loss:.4f}  test accuracy {100 * test_acc:.2f}%")
    if cfg.plots:
        _plots(out, history, confusion, log)
    log(f"saved {ckpt_path}, {out / 'metrics.csv'}" + (
        f", {out / 'curves.png'}, {out / 'confusion.png'}" if cfg.plots else ""))
    return {"history": history, "test_loss": test_loss, "test_acc": test_acc,
            "confusion": confusion, "model": model, "checkpoint": ckpt_path}


def _plots(out: Path, history, confusion, log) -> None:
    try:
        from ..viz.plots import plot_confusion, plot_history
    except ImportError as e:  # matplotlib is an extra
        log(f"no plots: {e} (pip install 'chainrule[train]')")
        return
    plot_history(history, out / "curves.png")
    plot_confusion(confusion, out / "confusion.png")
