"""What ``chainrule train --monitor`` and ``--tensorboard [DIR]`` add to a run: a TrainingMonitor
on the model's hooks (its diagnoses printed, its plots written into ``--out``), and TensorBoard
event files (loss, accuracy, learning rate, per-layer norms and update ratios, histograms each
epoch, the confusion matrix, the hyperparameters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EVERY = 10  # the monitor records one step in ten (about 1 % of a step's time; see benchmarks/)
EVENTS = "events.out.tfevents.*"


def tensorboard_folder(cfg) -> Path | None:
    """The folder ``--tensorboard`` writes into: the one given, or ``<out>/tensorboard``."""
    if cfg.tensorboard is None:
        return None
    return Path(cfg.tensorboard) if cfg.tensorboard else Path(cfg.out) / "tensorboard"


def old_events(cfg, resumed: bool) -> list[Path]:
    """The event files of an earlier run in the TensorBoard folder: none when resuming (the run
    goes on in them), else refused, unless ``--overwrite`` (then they go with the old run).
    Without the tensorboard extra, an ImportError that names it, before any work."""
    folder = tensorboard_folder(cfg)
    if folder is None:
        return []
    from ..utils import tensorboard  # noqa: F401
    if resumed or not folder.is_dir():
        return []
    found = sorted(folder.rglob(EVENTS))
    if found and not cfg.overwrite:
        raise ValueError(f"--tensorboard {folder} already holds TensorBoard event files of a "
                         f"run ({found[0]}); continue it with --resume, replace it with "
                         f"--overwrite, or choose another folder")
    return found


class Watch:
    """The monitor and the TensorBoard writer of one run. ``step`` after each optimizer step,
    ``epoch`` after each epoch, ``finish`` after the test, ``close`` always."""

    def __init__(self, cfg, model, log, global_step: int):
        from ..viz.monitor import TrainingMonitor
        self.cfg, self.model, self.out, self.log = cfg, model, Path(cfg.out), log
        self.writer = None
        self.folder = folder = tensorboard_folder(cfg)
        if folder is not None:
            from ..utils.tensorboard import SummaryWriter
            # purge_step: after a resume, TensorBoard hides what the stopped run logged past it
            self.writer = SummaryWriter(str(folder), purge_step=global_step or None)
        # --tensorboard alone: the monitor measures for the writer and keeps its diagnoses silent
        # its steps are the run's (the steps done before each), also after a resume
        self.monitor = TrainingMonitor(model, every=EVERY, log=log if cfg.monitor else None,
                                       start=global_step)
        self.written = 0  # monitor records already sent to TensorBoard

    def step(self, loss: float, global_step: int) -> None:
        self.monitor.step(loss)
        if self.writer is None:
            return
        records = self.monitor.records[self.written:]
        self.written = len(self.monitor.records)
        if records:
            self.writer.add_scalar("train/batch_loss", loss, global_step)
        for r in records:
            for key in ("grad_norm", "weight_norm", "update_ratio"):
                if r.get(key) is not None:
                    self.writer.add_scalar(f"{key}/{r['layer']}", r[key], r["step"])

    def epoch(self, row: dict, global_step: int) -> None:
        if self.writer is None:
            return
        w = self.writer
        w.add_scalar("loss/train", row["train_loss"], global_step)
        w.add_scalar("accuracy/train", row["train_acc"], global_step)
        if row["val_loss"] is not None:
            w.add_scalar("loss/validation", row["val_loss"], global_step)
            w.add_scalar("accuracy/validation", row["val_acc"], global_step)
        w.add_scalar("lr", row["lr"], global_step)
        for name, p in self.model.named_parameters():
            w.add_histogram(f"weights/{name}", p._data, global_step)
            if p.grad is not None:
                w.add_histogram(f"grads/{name}", p.grad._data, global_step)
        w.flush()

    def finish(self, test_loss: float, test_acc: float, confusion: np.ndarray) -> list[Path]:
        """Write the monitor's plots (with --monitor) and the run's last TensorBoard entries;
        returns the plots' paths."""
        plots = []
        if self.cfg.monitor:
            if self.cfg.plots:
                try:
                    plots = self.monitor.save_plots(self.out)
                except ImportError as e:
                    self.log(f"monitor plots skipped: {e}")
            if not self.monitor.diagnoses:
                self.log(f"monitor: no problem seen in {len(self.monitor.records)} "
                                 f"layer records (one step in {EVERY})")
        if self.writer is not None:
            from .loop import _lr
            c = self.cfg
            try:
                from ..viz.plots import confusion_figure
                self.writer.add_figure("confusion_matrix", confusion_figure(confusion))
            except ImportError:  # matplotlib is an extra: the matrix as a plain image instead
                image = confusion / max(confusion.max(), 1)
                self.writer.add_image("confusion_matrix", image, dataformats="HW")
            hparams = {"model": c.model, "dataset": c.dataset, "optimizer": c.optimizer,
                       "lr": _lr(c), "batch_size": c.batch_size,
                       "epochs": c.epochs, "momentum": c.momentum,
                       "weight_decay": c.weight_decay, "seed": c.seed}
            self.writer.add_hparams(hparams, {"hparam/test_accuracy": test_acc,
                                              "hparam/test_loss": test_loss})
            self.writer.flush()
            self.log(f"TensorBoard events in {self.folder}: tensorboard --logdir {self.folder}")
        return plots

    def close(self) -> None:
        self.monitor.remove()
        if self.writer is not None:
            self.writer.close()
