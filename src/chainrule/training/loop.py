"""The training loop behind ``chainrule train``: seeded, resumable, interruptible with Ctrl-C."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from .. import nn, optim
from ..autograd.grad_mode import no_grad
from ..data import DataLoader, TensorDataset, random_split
from ..nn import functional as F
from ..random import Generator, get_rng_state, manual_seed, set_rng_state
from .._io import atomic_write_text, probe_writable
from ..serialization import load, save
from .models import build_model
from .ranks import Ranks
from .watch import Watch, old_events

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
    val_size: int | None = None  # None: 5000, or a fifth of a smaller training set; 0: none
    progress: bool = True
    plots: bool = True
    download: bool = False
    overwrite: bool = False  # replace a run already in ``out`` (else refused)
    monitor: bool = False  # a TrainingMonitor: diagnoses printed, its plots into ``out``
    tensorboard: str | None = None  # TensorBoard events into this folder ("": <out>/tensorboard)
    distributed: bool = False  # one of the ranks of `mpirun -n N` (training/ranks.py)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# A resumed run keeps these from its checkpoint: None means "the checkpoint's" (a new run's
# default), another value is refused. ``lr`` and ``epochs`` may change, with a line saying so.
KEPT = ("dataset", "model", "optimizer", "batch_size", "momentum", "weight_decay", "seed",
        "val_size")


class RunExistsError(ValueError):
    """``train`` into a folder that already holds a run, without ``overwrite`` or ``resume``."""


class TrainingDiverged(ValueError):
    """The loss or the weights became NaN or Inf; the last good checkpoint was kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM stopped training; a resumable checkpoint was saved at
    ``path``. ``signum`` is the signal's number (the command exits with 128 + it)."""

    def __init__(self, path, signum=signal.SIGINT):
        super().__init__(f"training interrupted; resumable checkpoint saved to {path}")
        self.path, self.signum = path, int(signum)


# -- data -------------------------------------------------------------------------------------

def load_dataset(name: str, root, train: bool, download: bool = False):
    """The normalised images (N, 1, 28, 28) float32 and labels of MNIST or Fashion-MNIST."""
    from ..datasets import FashionMNIST, MNIST
    kinds = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "fashionmnist": FashionMNIST}
    if name not in kinds:
        raise ValueError(f"unknown dataset {name!r}: choose mnist or fashion-mnist")
    ds = kinds[name](root=root, train=train, download=download)
    images, labels = ds._arrays()
    images = (np.asarray(images) - np.float32(ds.mean)) / np.float32(ds.std)
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

RESUME_KEYS = ("model", "optimizer", "scheduler", "config", "epoch", "step", "history", "sums",
               "rng")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _finite_in(low, high=math.inf, low_open=False):
    def ok(v):
        return (_is_number(v) and math.isfinite(v) and (low < v if low_open else low <= v)
                and v < high)
    return ok


# what each field of a checkpoint's config must be: (test, in words)
_CONFIG_FIELDS = {
    "dataset": (lambda v: v in ("mnist", "fashion-mnist", "fashionmnist"), "mnist or fashion-mnist"),
    "model": (lambda v: v in ("mlp", "cnn"), "mlp or cnn"),
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: v is None or _finite_in(0.0, low_open=True)(v), "a finite number > 0"),
    "optimizer": (lambda v: v in ("sgd", "adam"), "sgd or adam"),
    "momentum": (_finite_in(0.0, 1.0), "a finite number in [0, 1)"),
    "weight_decay": (_finite_in(0.0), "a finite number >= 0"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "data_dir": (lambda v: v is None or isinstance(v, str), "a folder name or none"),
    "val_size": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 or none"),
}
_SUMS = ("loss", "correct", "seen", "seconds")
_METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
_RESUME_FIELDS = {
    "model": (lambda v: isinstance(v, dict), "a dict of weights"),
    "optimizer": (lambda v: isinstance(v, dict), "an optimizer state_dict"),
    "scheduler": (lambda v: isinstance(v, dict), "a scheduler state_dict"),
    "epoch": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "step": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "history": (lambda v: isinstance(v, list) and all(
                    isinstance(h, dict) and all(k in h for k in _METRICS) for h in v),
                f"a list of epoch records ({', '.join(_METRICS)})"),
    "sums": (lambda v: isinstance(v, dict) and all(_is_number(v.get(k)) for k in _SUMS),
             f"a dict of the numbers {', '.join(_SUMS)}"),
    "rng": (lambda v: isinstance(v, dict) and "global" in v and "epoch_shuffle" in v,
            "a dict with 'global' and 'epoch_shuffle'"),
}


def read_checkpoint(path, keys=("model", "config")) -> dict:
    """What ``train`` saved at ``path``: a ValueError naming the file if it holds no ``keys``, or
    naming the field if one of them (or of its config) is not what ``train`` writes."""
    ckpt = load(path)
    missing = [k for k in keys if not isinstance(ckpt, dict) or k not in ckpt]
    if missing or not isinstance(ckpt["config"], dict):
        raise ValueError(f"{path}: not a chainrule training checkpoint (no "
                         f"{', '.join(repr(k) for k in missing or ['config'])})")
    if str(ckpt["config"].get("model")).startswith("char-"):  # training/text.py's
        raise ValueError(f"{path}: a {ckpt['config']['model']} checkpoint (a character model of "
                         f"words): this command is for the MNIST models; draw words from it "
                         f"with chainrule sample --checkpoint {path}")
    checks = [(f"config.{k}", ckpt["config"].get(k, TrainConfig.__dataclass_fields__[k].default),
               *test) for k, test in _CONFIG_FIELDS.items()]
    checks += [(k, ckpt[k], *_RESUME_FIELDS[k]) for k in keys if k in _RESUME_FIELDS]
    for name, value, ok, expected in checks:
        try:
            good = bool(ok(value))
        except (TypeError, ValueError):  # a comparison with an array, a dict, ...
            good = False
        if not good:
            shown = repr(value) if len(repr(value)) <= 60 else f"a {type(value).__name__}"
            raise ValueError(f"{path}: not a sound chainrule training checkpoint: its {name} is "
                             f"{shown}, where train writes {expected}")
    if "epoch" in keys and ckpt["epoch"] > ckpt["config"]["epochs"]:
        raise ValueError(f"{path}: not a sound chainrule training checkpoint: its epoch "
                         f"{ckpt['epoch']} is beyond its config.epochs {ckpt['config']['epochs']}")
    return ckpt


def _load_weights(model, weights, path, name) -> None:
    """Load ``weights`` into ``model``; a ValueError naming ``path`` and the parameter if they do
    not fit, are not real floating-point numbers (an int8 or complex array: a cast would change
    them) or hold NaN or Inf."""
    own = model.state_dict()
    for key, value in weights.items() if isinstance(weights, dict) else ():
        dtype = getattr(value, "dtype", None)
        if dtype is None:
            dtype = np.asarray(value).dtype
        if key in own and np.dtype(dtype).kind != "f":
            raise ValueError(f"{path}: its parameter {key} holds {np.dtype(dtype)} values, the "
                             f"{name} model's are {np.asarray(own[key]).dtype}; a checkpoint "
                             f"written by train holds floating-point weights")
    try:
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: its weights do not fit the {name} model its config "
                         f"names: {e}") from e
    bad = _non_finite(model)
    if bad:
        raise ValueError(f"{path}: its parameter{'s' * (len(bad) > 1)} {', '.join(bad)} "
                         f"hold{'s' * (len(bad) == 1)} NaN or Inf; the checkpoint cannot be used")


def load_checkpoint(path):
    """Load a checkpoint written by ``train`` and rebuild its model (weights loaded)."""
    ckpt = read_checkpoint(path)
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model)
    _load_weights(model, ckpt["model"], path, cfg.model)
    return model, cfg, ckpt


RUN_FILES = ("checkpoint.npz", "metrics.csv", "curves.png", "confusion.png", "gradient_flow.png",
             "update_ratio.png", "activations.png", "dead_units.png")


def _refuse_existing_run(out: Path) -> None:
    """Raise RunExistsError if ``out`` holds a run (a checkpoint or metrics), naming it."""
    ckpt = out / "checkpoint.npz"
    if not (ckpt.exists() or (out / "metrics.csv").exists()):
        return
    what = f"{out / 'metrics.csv'}, no checkpoint"
    if ckpt.exists():
        try:
            state = load(ckpt)
            c = state["config"]
            what = (f"{ckpt}: {c['model']} on {c['dataset']}, {state['epoch']} of {c['epochs']} "
                    f"epochs")
        except Exception:  # whatever it holds, it is the run's and not ours to replace
            what = str(ckpt)
    raise RunExistsError(
        f"--out {out} already holds a run ({what}); continue it with --resume {ckpt} (add "
        f"--epochs N to train longer), replace it with --overwrite, or choose another --out")


def _resumed_config(cfg: TrainConfig, saved: dict, resume, log) -> TrainConfig:
    """The checkpoint's settings, with where and how to show the run taken from ``cfg``; a
    setting of ``cfg`` that differs from the checkpoint's is refused (``KEPT``), or applied with
    a line (``lr``, ``epochs``)."""
    run = TrainConfig.from_dict(saved)
    conflicts = [f"--{k.replace('_', '-')} {getattr(cfg, k)} (the checkpoint's: {saved.get(k)})"
                 for k in KEPT if getattr(cfg, k) is not None and getattr(cfg, k) != saved.get(k)]
    if conflicts:
        raise ValueError(
            f"--resume {resume}: {', '.join(conflicts)} would change the run; a resumed run keeps "
            f"its model, data, optimizer and batches: drop the flag, or start a new run with "
            f"another --out")
    run.out, run.progress, run.plots = cfg.out, cfg.progress, cfg.plots
    run.download, run.overwrite = cfg.download, cfg.overwrite
    run.monitor, run.tensorboard = cfg.monitor, cfg.tensorboard
    run.distributed = cfg.distributed  # how it runs now (a mid-epoch stop needs as many ranks)
    if cfg.data_dir and cfg.data_dir != run.data_dir:  # moved files, or another data set
        log(f"--data-dir {cfg.data_dir} replaces the checkpoint's {run.data_dir or 'default'}: "
            f"the resumed run trains and validates on that folder's images")
    run.data_dir = cfg.data_dir or run.data_dir
    run.epochs = cfg.epochs or run.epochs
    if cfg.lr is not None and cfg.lr != _lr(run):
        log(f"--lr {cfg.lr:g} replaces the checkpoint's {_lr(run):g}")
        run.lr = cfg.lr
    return run


def _lr(cfg: TrainConfig) -> float:
    return cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer]


def _check_epochs(cfg: TrainConfig, epoch: int, step: int, resume) -> None:
    """A resumed run must have epochs left to train."""
    done = f"{epoch} epoch{'s' * (epoch != 1)}"
    if epoch + (step > 0) > cfg.epochs:
        raise ValueError(f"--epochs {cfg.epochs}: the checkpoint {resume} has already trained "
                         f"{done}; give more to train longer")
    if epoch == cfg.epochs:
        raise ValueError(f"--resume {resume}: the run finished its {done}; to train it longer "
                         f"give --epochs N with N > {epoch}")


def _restart_schedule(opt, sched, cfg: TrainConfig, log) -> None:
    """After a change of --epochs or --lr: the cosine schedule as if the run had been planned
    with them from the start (the lr of a finished schedule is 0, and PyTorch's recursive
    form would keep it there)."""
    base = _lr(cfg)
    sched.T_max, sched.base_lrs = cfg.epochs, [base] * len(opt.param_groups)
    for group, lr in zip(opt.param_groups, sched._get_closed_form_lr(), strict=True):
        group["initial_lr"], group["lr"] = base, lr
    sched._last_lr = [g["lr"] for g in opt.param_groups]
    log(f"cosine schedule over {cfg.epochs} epochs from lr {base:g}: epoch "
        f"{sched.last_epoch + 1} trains at lr {opt.param_groups[0]['lr']:.4g}")


def _where(epoch: int, step: int) -> str:
    """A checkpoint's place, (epochs done, steps into the next), in words."""
    return f"epoch {epoch + 1}, step {step}" if step else f"the end of epoch {epoch}"


def _non_finite(model) -> list[str]:
    """The names of the model's parameters and buffers that hold a NaN or an Inf."""
    arrays = {k: np.asarray(v) for k, v in model.state_dict().items()}
    return [k for k, a in arrays.items()
            if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all()]


_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class _StopFlag:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the current step; a second one
    stops now. ``signum`` is the first one's number."""

    def __init__(self, note=None):
        self.requested = False
        self.signum = signal.SIGINT
        self.previous = {}
        self.note = note  # (signal's name) -> what the second signal's error says was kept

    def __enter__(self):
        for signum in _SIGNALS:
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not in the main thread: no handler, signals behave as usual
                break
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, exc_type, exc, tb):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
        if exc_type is KeyboardInterrupt and self.requested and self.note is not None:
            stopped = KeyboardInterrupt(self.note(_SIGNALS[self.signum]))
            stopped.signum = int(self.signum)
            raise stopped from exc
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
    writer = csv.DictWriter(buf, fieldnames=_METRICS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row[k] for k in _METRICS})  # None (no validation): an empty field
    with _writing(path):
        atomic_write_text(path, buf.getvalue())


@contextlib.contextmanager
def _writing(path):
    """An OSError while writing ``path`` (a full disk, a read-only folder) names the file."""
    try:
        yield
    except OSError as e:  # naming the file, not its temporary .NAME.PID.xxx.tmp beside it
        if e.filename is not None and not Path(e.filename).name.startswith(f".{Path(path).name}."):
            raise
        raise OSError(e.errno, f"cannot write it: {e.strerror or e}; the previous version, if "
                               f"any, is unchanged", str(path)) from e


# -- the loop ---------------------------------------------------------------------------------

def _val_size(val_size: int | None, n_train: int, n_test: int) -> int:
    """Validation images to hold out: ``val_size`` (0: none), by default 5000 or a fifth of a
    smaller training set. Empty sets, and no training image left, are errors."""
    if n_train == 0 or n_test == 0:
        raise ValueError(f"the {'training' if n_train == 0 else 'test'} set holds 0 images")
    if val_size is None:
        return min(5000, n_train // 5)
    if not 0 <= val_size < n_train:
        raise ValueError(f"--val-size {val_size} must be at least 0 and less than the {n_train} "
                         f"training images, to leave some to train on")
    return val_size


def _make_folder(out: Path, created: list) -> None:
    """``out.mkdir(parents=True)``, noting in ``created`` the folders it made, deepest first."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    created.extend(made)


def _remove_empty(created: list) -> None:
    """Remove the folders this run made that are still empty (a failed run leaves none)."""
    for folder in created:  # deepest first; rmdir refuses a folder holding anything
        try:
            folder.rmdir()
        except OSError:
            break


def train(cfg: TrainConfig, resume=None, data=None, log=print, on_step=None) -> dict:
    """Train ``cfg.model`` on ``cfg.dataset``; returns the history and the test results.

    ``data`` = (train, test) datasets replaces the files (tests use small generated data).
    ``on_step(epoch, step)`` is called after each optimizer step (tests use it to interrupt).
    A run that fails removes the folders it made for ``cfg.out`` if they are still empty.
    """
    created, opened = [], []
    try:
        return _train(cfg, resume, data, log, on_step, created, opened)
    except BaseException:
        _remove_empty(created)
        raise
    finally:
        for watch in opened:
            watch.close()


def _train(cfg: TrainConfig, resume, data, log, on_step, created: list, opened: list) -> dict:
    ranks = Ranks(cfg.distributed)  # rank 0 alone logs and writes files
    log = ranks.log(log)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.npz"
    state = read_checkpoint(resume, RESUME_KEYS) if resume else None
    if state is not None:  # the run's own settings, but where and how to show it
        cfg = _resumed_config(cfg, state["config"], resume, log)
        _check_epochs(cfg, state["epoch"], state["step"], resume)
    else:
        defaults = TrainConfig()
        cfg = replace(cfg, **{k: getattr(defaults, k) for k in KEPT if getattr(cfg, k) is None})
    resumes_here = resume is not None and Path(resume).resolve() == ckpt_path.resolve()
    if not (cfg.overwrite or resumes_here):
        _refuse_existing_run(out)
    # an overwritten run's files stay until this run writes its first checkpoint
    stale = [out / f for f in RUN_FILES if cfg.overwrite and not resumes_here and (out / f).exists()]
    stale += old_events(cfg, resumed=state is not None)

    if data is None:
        full_train = load_dataset(cfg.dataset, cfg.data_dir, train=True, download=cfg.download)
        test_set = load_dataset(cfg.dataset, cfg.data_dir, train=False, download=cfg.download)
    else:
        full_train, test_set = data
    val_size = _val_size(cfg.val_size, len(full_train), len(test_set))
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
        steps = ranks.steps(len(train_set), cfg.batch_size)
        if state.get("world_size", 1) != ranks.size and state["step"] > 0:
            raise ValueError(f"--resume {resume}: the run stopped in the middle of an epoch on "
                             f"{state.get('world_size', 1)} process(es); resume it on as many "
                             f"(mpirun -n {state.get('world_size', 1)}), not {ranks.size}")
        if state["step"] > steps:
            raise ValueError(f"{resume}: not a sound chainrule training checkpoint: its step "
                             f"{state['step']} is beyond the {steps} steps of an epoch of "
                             f"{len(train_set)} images in batches of {cfg.batch_size}")
        _load_weights(model, state["model"], resume, cfg.model)
        for name, part in [("optimizer", opt), ("scheduler", sched)]:
            try:
                part.load_state_dict(state[name])
            except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
                raise ValueError(f"{resume}: not a sound chainrule training checkpoint: its "
                                 f"{name} state does not fit a {cfg.optimizer} {name} "
                                 f"({e})") from e
        opt._opt_called = True  # it stepped before the checkpoint: no scheduler-order warning
        if sched.T_max != cfg.epochs or sched.base_lrs[0] != _lr(cfg):  # --epochs or --lr
            _restart_schedule(opt, sched, cfg, log)
        set_rng_state(state["rng"]["global"])
        epoch, step, history = state["epoch"], state["step"], list(state["history"])
        sums = dict(state["sums"])  # (the sums over the ranks: rank 0 carries them on)
        if not ranks.main:
            sums.update(loss=0.0, correct=0, seen=0)
        epoch_shuffle_state = state["rng"]["epoch_shuffle"]
        log(f"resumed from {resume}: epoch {epoch + 1}, step {step}")
    net = ranks.wrap(model)  # what the steps call: on several ranks, DistributedDataParallel
    # made as late as possible, and found writable (with room for a checkpoint) before any step
    if ranks.main:
        _make_folder(out, created)
        states = {"sgd": 1 if cfg.momentum > 0 else 0, "adam": 2}.get(cfg.optimizer, 2)
        size = (1 + states) * sum(np.asarray(v).nbytes for v in model.state_dict().values())
        with _writing(ckpt_path):
            probe_writable(ckpt_path, size)
    kept = [f"the checkpoint it resumed from, {resume}, is kept" if resume else
            "no checkpoint was written" + (f"; the earlier run in {out} is untouched"
                                           if stale else "")]

    def stop_if_not_finite(what, epoch_, step_):
        """NaN or Inf: stop, keep the last good checkpoint, say what to try."""
        base = _lr(cfg)
        raise TrainingDiverged(
            f"{what} at {_where(epoch_, step_)} (lr {opt.param_groups[0]['lr']:.3g}): training "
            f"stopped; {kept[0]}. Try a lower --lr (e.g. --lr {base / 2:.3g}, half of "
            f"{base:.3g}) or check the data for NaN or Inf")

    def checkpoint(epoch_, step_, path=ckpt_path):
        bad = _non_finite(model)  # a checkpoint is written only from finite weights
        if bad:
            stop_if_not_finite(f"{', '.join(bad)} hold NaN or Inf", epoch_, step_)
        if not ranks.main:  # the weights are the same on every rank: rank 0 writes them
            return
        with _writing(path):
            save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "config": asdict(cfg), "epoch": epoch_,
                  "step": step_, "history": history, "sums": sums, "world_size": ranks.size,
                  "rng": {"global": get_rng_state(), "epoch_shuffle": epoch_shuffle_state}}, path)
        kept[0] = f"the last good checkpoint, {path} ({_where(epoch_, step_)}), is kept"
        for f in stale:  # the overwritten run's files go now, not before
            if f != path:
                f.unlink(missing_ok=True)
        stale.clear()

    batch = f"batch {cfg.batch_size}"
    if ranks.size > 1:  # (mpirun names a rank that died by its PID)
        batch = f"batch {cfg.batch_size * ranks.size} ({cfg.batch_size} per rank)"
        log(f"{ranks.size} ranks: {ranks.describe()}")
    log(f"training {cfg.model} on {cfg.dataset}: {len(train_set)} train / {len(val_set)} "
        f"validation / {len(test_set)} test images, {cfg.epochs} epochs, {batch}, "
        f"{cfg.optimizer} lr {opt.param_groups[0]['lr']:g}")
    # NaN and Inf stop the run with a message of their own, so NumPy's warnings would only repeat it
    def stopped_at_once(by="Ctrl-C"):
        last = ckpt_path if kept[0].startswith("the last good") else resume
        return (f"stopped at once by a second {by}, without saving; {kept[0]}"
                + (f"; continue with --resume {last}" if last else ""))

    watch, bar_now = None, [None]  # the monitor's diagnoses are printed above the progress bar
    if (cfg.monitor or cfg.tensorboard is not None) and ranks.main:
        def say(text):
            if bar_now[0] is not None:
                bar_now[0].clear()
            log(text)
        steps = ranks.steps(len(train_set), cfg.batch_size)
        watch = Watch(cfg, model, say, epoch * steps + step)
        opened.append(watch)
    with _StopFlag(stopped_at_once) as stop, np.errstate(over="ignore", invalid="ignore"):
        while epoch < cfg.epochs:
            shuffle.set_state(epoch_shuffle_state)  # the epoch's order, also after a resume
            if ranks.distributed:  # this rank's share of the epoch
                loader = ranks.loader(train_set, cfg.batch_size, cfg.seed + 1, epoch)
            else:
                loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                                    generator=shuffle)
            bar = bar_now[0] = _progress(len(loader), step, f"epoch {epoch + 1}/{cfg.epochs}",
                                         cfg.progress and ranks.main)
            model.train()
            start = time.perf_counter()
            for i, (x, y) in enumerate(loader):
                if i < step:
                    continue
                logits = net(x)
                loss = F.cross_entropy(logits, y)
                value = loss.item()
                stopping = None
                if ranks.size > 1:  # decided together, so that no rank waits for the others
                    diverged, stopping = ranks.any(not math.isfinite(value), stop.requested)
                    value = math.nan if diverged else value
                if not math.isfinite(value):
                    if bar is not None:
                        bar.close()
                    stop_if_not_finite(f"the loss is {value}", epoch, i + 1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n = len(y)
                sums["loss"] += value * n
                sums["correct"] += int((logits._data.argmax(1) == y._data).sum())
                sums["seen"] += n
                step = i + 1
                if watch is not None:
                    watch.step(value, epoch * len(loader) + step)
                if bar is not None:
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f"{sums['loss'] / sums['seen']:.4f}",
                                        acc=f"{100 * sums['correct'] / sums['seen']:.2f}%")
                if on_step is not None:
                    on_step(epoch, step)
                if stop.requested if stopping is None else stopping:
                    sums.update(ranks.sum({k: sums[k] for k in ("loss", "correct", "seen")}))
                    sums["seconds"] += time.perf_counter() - start
                    if bar is not None:
                        bar.close()
                    checkpoint(epoch, step)
                    if stop.signum == signal.SIGTERM:  # one line, for a log
                        log(f"terminated by SIGTERM at epoch {epoch + 1}, step {step}: saved "
                            f"{ckpt_path}; resume with: chainrule train --resume {ckpt_path}")
                    else:
                        log(f"\ninterrupted at epoch {epoch + 1}, step {step}: saved "
                            f"{ckpt_path}\nresume with: chainrule train --resume {ckpt_path}")
                    raise TrainingInterrupted(ckpt_path, stop.signum)
            if bar is not None:
                bar.close()
            seconds = sums["seconds"] + time.perf_counter() - start
            sums.update(ranks.sum({k: sums[k] for k in ("loss", "correct", "seen")}))
            val_loss, val_acc = (evaluate_model(model, val_set)[:2] if len(val_set) and ranks.main
                                 else (None, None))
            lr = opt.param_groups[0]["lr"]
            sched.step()
            history.append({"epoch": epoch + 1, "train_loss": sums["loss"] / max(sums["seen"], 1),
                            "train_acc": sums["correct"] / max(sums["seen"], 1),
                            "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                            "seconds": round(seconds, 3)})
            h = history[-1]
            if watch is not None:
                watch.epoch(h, (epoch + 1) * len(loader))
            val = "" if val_loss is None else f"  val loss {val_loss:.4f} acc {100 * val_acc:.2f}%"
            log(f"epoch {epoch + 1:>2}/{cfg.epochs}  train loss {h['train_loss']:.4f} acc "
                f"{100 * h['train_acc']:.2f}%{val}  lr {lr:.4g}  {seconds:.1f} s")
            epoch, step = epoch + 1, 0
            sums = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            epoch_shuffle_state = shuffle.get_state()  # where the next epoch's order starts
            checkpoint(epoch, 0)  # first: it refuses non-finite weights
            if ranks.main:
                _write_metrics(out / "metrics.csv", history)

    if not ranks.main:  # rank 0 tests, plots and reports
        return {"history": history, "model": model, "checkpoint": ckpt_path}

    test_loss, test_acc, confusion = evaluate_model(model, test_set)
    log(f"test loss {test_loss:.4f}  test accuracy {100 * test_acc:.2f}%")
    plots = _plots(out, history, confusion, log) if cfg.plots else []
    if watch is not None:
        bar_now[0] = None
        plots += watch.finish(test_loss, test_acc, confusion)
    log(f"saved {', '.join(str(p) for p in [ckpt_path, out / 'metrics.csv', *plots])}")
    return {"history": history, "test_loss": test_loss, "test_acc": test_acc,
            "confusion": confusion, "model": model, "checkpoint": ckpt_path}


def _plots(out: Path, history, confusion, log) -> list:
    """Draw curves.png and confusion.png and return their paths; without matplotlib (an extra)
    say so once and return none."""
    from ..viz.plots import plot_confusion, plot_history
    curves, matrix = out / "curves.png", out / "confusion.png"
    try:
        with _writing(curves):
            plot_history(history, curves)
        with _writing(matrix):
            plot_confusion(confusion, matrix)
    except ImportError as e:
        log(f"plots skipped: {e}")
        return []
    return [curves, matrix]
