"""``chainrule train --model char-lstm|char-transformer --dataset words``: a character-level
language model of English words (makemore's task), and ``chainrule sample``.

Every word is one sequence: ``.`` then its letters, and the model predicts each next symbol,
the closing ``.`` included. Bits per character = the mean cross-entropy in nats over those
predictions / ln 2 (a uniform guess over the 27 symbols: log2 27 = 4.75 bits)."""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from .. import optim
from ..autograd.grad_mode import no_grad
from ..creation import from_numpy
from ..datasets.words import INSTALL, VOCAB, Words, decode, encode
from ..nn import functional as F
from ..random import manual_seed
from ..serialization import load, save
from .._io import atomic_write_text, probe_writable
from .char_models import CHAR_MODELS, build_char_model
from .loop import (RUN_FILES, RunExistsError, TrainConfig, TrainingDiverged,
                   TrainingInterrupted, _load_weights,
                   _make_folder, _progress, _refuse_existing_run, _remove_empty, _StopFlag,
                   _writing)

TEXT_DATASETS = ("words",)
IGNORE = -100  # the targets of padding (F.cross_entropy's default ignore_index)
LN2 = math.log(2.0)
# per model: epochs, batch size, Adam's lr; about a minute or two on 2 cores
DEFAULTS = {"char-lstm": (2, 128, 3e-3), "char-transformer": (1, 128, 3e-3)}
METRICS = ["epoch", "train_loss", "train_bpc", "val_loss", "val_bpc", "lr", "seconds"]
SAMPLES_SHOWN = 8


# -- data -------------------------------------------------------------------------------------

def split_words(words: list[str], val_size: int, seed: int) -> tuple[list[str], list[str]]:
    """A seeded shuffle of ``words``, then the last ``val_size`` held out for validation."""
    order = np.random.default_rng(seed).permutation(len(words))
    shuffled = [words[i] for i in order]
    cut = len(words) - val_size
    return shuffled[:cut], shuffled[cut:]


def make_batch(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets, int64 (B, L + 1) with L the longest word: row i is ``.`` + word i
    padded with ``.``, and word i + ``.`` padded with IGNORE."""
    n, width = len(words), max(len(w) for w in words) + 1
    x = np.zeros((n, width), np.int64)
    y = np.full((n, width), IGNORE, np.int64)
    for i, w in enumerate(words):
        codes = encode(w)
        x[i, 1:len(codes) + 1] = codes
        y[i, :len(codes)] = codes
        y[i, len(codes)] = 0
    return x, y


def epoch_batches(words: list[str], batch_size: int, seed: int, epoch: int) -> list:
    """The batches of one epoch, in a seeded order of its own (the same for any library)."""
    order = np.random.default_rng([seed, epoch]).permutation(len(words))
    return [make_batch([words[i] for i in order[k:k + batch_size]])
            for k in range(0, len(words), batch_size)]


def bits_per_char(nats: float) -> float:
    """Mean cross-entropy per character in nats -> bits: nats / ln 2."""
    return nats / LN2


def _loss(model, x, y, reduction="mean"):
    logits = model(from_numpy(x))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), from_numpy(y.reshape(-1)),
                           ignore_index=IGNORE, reduction=reduction)


@no_grad()
def evaluate_text(model, words: list[str], batch_size: int = 512) -> float:
    """Mean cross-entropy in nats per predicted character (closing ``.`` included) of ``words``;
    words sorted by length, so that batches hold little padding."""
    was_training = model.training
    model.eval()
    ordered = sorted(words, key=len)
    total, count = 0.0, 0
    for k in range(0, len(ordered), batch_size):
        x, y = make_batch(ordered[k:k + batch_size])
        total += _loss(model, x, y, reduction="sum").item()
        count += int((y != IGNORE).sum())
    model.train(was_training)
    return total / max(count, 1)


@no_grad()
def sample(model, num: int, rng: np.random.Generator, temperature: float = 1.0,
           prefix: str = "", max_len: int = 31) -> list[str]:
    """``num`` words drawn one symbol at a time from softmax(logits / temperature), each starting
    with ``prefix`` and ending at ``.`` or after ``max_len`` letters."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ValueError(f"sample: temperature must be a finite number > 0, got {temperature}")
    bad = sorted(set(prefix) - set(VOCAB[1:]))
    if bad:
        raise ValueError(f"sample: the prefix {prefix!r} holds {''.join(bad)!r}; the model knows "
                         f"the letters a-z only")
    was_training = model.training
    model.eval()
    rows = np.zeros((num, 1 + len(prefix)), np.int64)
    rows[:, 1:] = encode(prefix)
    done = np.zeros(num, bool)
    while not done.all() and rows.shape[1] <= max_len:
        logits = np.asarray(model(from_numpy(rows))._data[:, -1], np.float64) / temperature
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        nxt = (p.cumsum(axis=1) > rng.random((num, 1))).argmax(axis=1)
        nxt[done] = 0
        done |= nxt == 0
        rows = np.concatenate([rows, nxt[:, None]], axis=1)
    model.train(was_training)
    return [decode(r[1:]).split(".")[0] for r in rows]


def _write_metrics(path: Path, history: list) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)  # None (no validation): an empty field
    with _writing(path):
        atomic_write_text(path, buf.getvalue())


def _show_samples(words: list[str], known: set) -> str:
    new = sum(w not in known for w in words)
    return f"{', '.join(words)}  ({new} of {len(words)} not in the training words)"


# -- checkpoints ------------------------------------------------------------------------------

def is_text_checkpoint(path) -> bool:
    """Whether ``path`` is a checkpoint of a character model (False if unreadable)."""
    try:
        ckpt = load(path)
        return isinstance(ckpt, dict) and ckpt.get("config", {}).get("model") in CHAR_MODELS
    except Exception:  # not ours to judge here: the caller's reader says what is wrong
        return False


def load_char_checkpoint(path):
    """The model (weights loaded) and config of a checkpoint written by a character model's
    ``train``; a ValueError naming the file when it is not one."""
    ckpt = load(path)
    name = ckpt.get("config", {}).get("model") if isinstance(ckpt, dict) else None
    if name not in CHAR_MODELS or "model" not in ckpt:
        raise ValueError(f"{path}: not a checkpoint of a character model (train --model "
                         f"{' or '.join(CHAR_MODELS)}); its model is {name!r}")
    model = build_char_model(name)
    _load_weights(model, ckpt["model"], path, name)
    return model, TrainConfig.from_dict(ckpt["config"]), ckpt


# -- the loop ---------------------------------------------------------------------------------

def text_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with a character model's defaults where a setting is None; refusals of what the
    text loop does not do."""
    model = cfg.model or "char-lstm"
    dataset = cfg.dataset or "words"
    if model not in CHAR_MODELS:
        raise ValueError(f"--dataset {dataset} is text: train it with --model "
                         f"{' or '.join(CHAR_MODELS)}, not {model}")
    if dataset not in TEXT_DATASETS:
        raise ValueError(f"--model {model} reads text: give --dataset "
                         f"{' or '.join(TEXT_DATASETS)}, not {dataset}")
    for flag, on in [("--monitor", cfg.monitor), ("--tensorboard", cfg.tensorboard is not None),
                     ("--distributed", cfg.distributed)]:
        if on:
            raise ValueError(f"{flag} is for the MNIST models; {model} does not support it")
    if cfg.download:
        raise ValueError(f"--download: the word list is not downloaded; install it with "
                         f"`{INSTALL}`, or give --data-dir a folder holding a file 'words'")
    epochs, batch, _ = DEFAULTS[model]
    optimizer = cfg.optimizer or "adam"
    return replace(cfg, model=model, dataset=dataset, epochs=cfg.epochs or epochs,
                   batch_size=cfg.batch_size or batch, optimizer=optimizer,
                   lr=cfg.lr if cfg.lr is not None else
                   (DEFAULTS[model][2] if optimizer == "adam" else 0.5),
                   momentum=0.9 if cfg.momentum is None else cfg.momentum,
                   weight_decay=cfg.weight_decay or 0.0, seed=cfg.seed or 0,
                   out=cfg.out or f"runs/{dataset}-{model}")


def make_text_optimizer(cfg: TrainConfig, params):
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                     weight_decay=cfg.weight_decay)


def train_text(cfg: TrainConfig, words: list[str] | None = None, log=print,
               on_step=None) -> dict:
    """Train ``cfg.model`` on the word list; returns the history, the final validation loss
    (nats and bits per character) and the model. ``words`` replaces the word list (tests).
    A run that fails removes the folders it made for ``cfg.out`` if they are still empty."""
    created: list = []
    try:
        return _train_text(text_config(cfg), words, log, on_step, created)
    except BaseException:
        _remove_empty(created)
        raise


def _train_text(cfg: TrainConfig, words, log, on_step, created) -> dict:
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.npz"
    if not cfg.overwrite:
        try:
            _refuse_existing_run(out)
        except RunExistsError as e:  # the same words, without the --resume text models lack
            what = str(e).split(" already holds a run ", 1)[1].split("; continue it")[0]
            raise RunExistsError(f"--out {out} already holds a run {what}; replace it with "
                                 f"--overwrite, or choose another --out") from None
    stale = [out / f for f in RUN_FILES if cfg.overwrite and (out / f).exists()]
    source = "the words given"
    if words is None:
        corpus = Words(cfg.data_dir)
        words, source = corpus.words, str(corpus.path)
    n = len(words)
    val_size = min(5000, n // 10) if cfg.val_size is None else cfg.val_size
    if not 0 <= val_size < n:
        raise ValueError(f"--val-size {val_size} must be at least 0 and less than the {n} words, "
                         f"to leave some to train on")
    train_words, val_words = split_words(words, val_size, cfg.seed)
    known = set(train_words)

    manual_seed(cfg.seed)
    model = build_char_model(cfg.model)
    longest = max(len(w) for w in words) + 1
    if longest > getattr(model, "block_size", longest):
        raise ValueError(f"the corpus has a word of {longest - 1} letters; {cfg.model} reads at "
                         f"most {model.block_size - 1}")
    opt = make_text_optimizer(cfg, model.parameters())
    steps_per_epoch = -(-len(train_words) // cfg.batch_size)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    rng = np.random.default_rng(cfg.seed + 1)  # the samples shown while training
    _make_folder(out, created)
    with _writing(ckpt_path):
        probe_writable(ckpt_path, 3 * sum(np.asarray(v).nbytes
                                          for v in model.state_dict().values()))
    history: list = []

    def checkpoint(epoch, step):
        with _writing(ckpt_path):
            save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "config": asdict(cfg), "epoch": epoch,
                  "step": step, "history": history, "vocab": VOCAB}, ckpt_path)
        for f in stale:  # the overwritten run's files go once this run has a checkpoint
            if f != ckpt_path and f.name != "metrics.csv":
                f.unlink(missing_ok=True)
        stale.clear()

    params = sum(p.numel() for p in model.parameters())
    log(f"training {cfg.model} ({params:,} weights) on {cfg.dataset} ({source}): "
        f"{len(train_words):,} train / {len(val_words):,} validation words, {len(VOCAB)} symbols "
        f"(a-z and '.', which starts and ends a word), {cfg.epochs} "
        f"epoch{'s' * (cfg.epochs != 1)} of {steps_per_epoch} steps, batch {cfg.batch_size}, {cfg.optimizer} lr {cfg.lr:g} "
        f"(cosine-annealed per step); a uniform guess is {bits_per_char(math.log(len(VOCAB))):.2f}"
        f" bits per character")
    draw = min(longest + 4, 31)  # letters at most in a sample shown

    def samples():
        return _show_samples(sample(model, SAMPLES_SHOWN, rng, max_len=draw), known)

    log(f"samples before training: {samples()}")
    step = 0
    with _StopFlag(lambda by: f"stopped at once by a second {by}, without saving") as stop, \
            np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(cfg.epochs):
            batches = epoch_batches(train_words, cfg.batch_size, cfg.seed, epoch)
            bar = _progress(len(batches), 0, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
            start, nats, count = time.perf_counter(), 0.0, 0
            lr = opt.param_groups[0]["lr"]
            model.train()
            for i, (x, y) in enumerate(batches):
                loss = _loss(model, x, y)
                value = loss.item()
                if not math.isfinite(value):
                    if bar is not None:
                        bar.close()
                    raise TrainingDiverged(
                        f"the loss is {value} at epoch {epoch + 1}, step {i + 1}: training "
                        f"stopped; try a lower --lr (e.g. --lr {cfg.lr / 2:.3g})")
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                k = int((y != IGNORE).sum())
                nats, count, step = nats + value * k, count + k, step + 1
                if bar is not None:
                    bar.update(1)
                    if (i + 1) % 20 == 0:
                        bar.set_postfix(bpc=f"{bits_per_char(nats / count):.3f}")
                if on_step is not None:
                    on_step(epoch, i + 1)
                if stop.requested:
                    if bar is not None:
                        bar.close()
                    checkpoint(epoch, i + 1)
                    log(f"\ninterrupted at epoch {epoch + 1}, step {i + 1}: saved {ckpt_path} "
                        f"(draw words from it with: chainrule sample --checkpoint {ckpt_path}; "
                        f"a character model's run cannot be resumed)")
                    raise TrainingInterrupted(ckpt_path, stop.signum)
            if bar is not None:
                bar.close()
            val = evaluate_text(model, val_words) if val_words else None
            history.append({"epoch": epoch + 1, "train_loss": nats / count,
                            "train_bpc": bits_per_char(nats / count), "val_loss": val,
                            "val_bpc": None if val is None else bits_per_char(val), "lr": lr,
                            "seconds": round(time.perf_counter() - start, 3)})
            h = history[-1]
            shown = "" if val is None else f"  val {val:.4f} nats = {h['val_bpc']:.3f} bits/char"
            log(f"epoch {epoch + 1:>2}/{cfg.epochs}  train {h['train_loss']:.4f} nats = "
                f"{h['train_bpc']:.3f} bits/char{shown}  {h['seconds']:.1f} s")
            log(f"  samples: {samples()}")
            checkpoint(epoch + 1, 0)
            _write_metrics(out / "metrics.csv", history)

    final = history[-1]
    if final["val_loss"] is not None:
        log(f"validation: {final['val_loss']:.4f} nats per character = "
            f"{final['val_bpc']:.4f} bits per character ({len(val_words):,} words)")
    log(f"saved {ckpt_path}, {out / 'metrics.csv'}; draw words with: chainrule sample "
        f"--checkpoint {ckpt_path}")
    return {"history": history, "val_loss": final["val_loss"], "val_bpc": final["val_bpc"],
            "model": model, "checkpoint": ckpt_path, "train_words": train_words,
            "val_words": val_words}


# -- the command line -------------------------------------------------------------------------

def wants_text(args) -> bool:
    """Whether ``chainrule train``'s arguments name a character model, the word list, or
    resume a character model's run."""
    return (args.model in CHAR_MODELS or args.dataset in TEXT_DATASETS
            or bool(args.resume and is_text_checkpoint(args.resume)))


def train_from_args(args) -> int:
    """``chainrule train`` for a character model (cli.py dispatches here)."""
    if args.resume:
        raise ValueError(f"--resume {args.resume}: a character model's run cannot be resumed "
                         f"(not supported yet); start a new run, with --overwrite to replace "
                         f"it, or draw words from it with chainrule sample --checkpoint "
                         f"{args.resume}")
    if args.threads:
        from ..threads import set_num_threads
        set_num_threads(args.threads)
    cfg = TrainConfig(dataset=args.dataset, model=args.model, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                      momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed,
                      data_dir=args.data_dir, val_size=args.val_size, out=args.out,
                      progress=not args.no_progress, plots=False, download=args.download,
                      overwrite=args.overwrite, monitor=args.monitor,
                      tensorboard=args.tensorboard, distributed=args.distributed)
    out = Path(cfg.out or ".")
    file = next((f for f in (out, *out.parents) if f.exists() and not f.is_dir()), None)
    if file is not None:
        raise ValueError(f"--out {out}: not a folder; choose another --out")
    try:
        train_text(cfg)
    except TrainingInterrupted as stopped:
        return 128 + stopped.signum
    return 0


def sample_from_args(args) -> int:
    """``chainrule sample``: words drawn from a character model's checkpoint."""
    model, cfg, _ = load_char_checkpoint(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    for word in sample(model, args.num, rng, args.temperature, args.prefix):
        print(word)
    return 0
