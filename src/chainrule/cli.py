"""The ``chainrule`` command: train, evaluate, predict, demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="chainrule: backpropagation you can do, see and check.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="train a network on MNIST",
                       description="Train an MLP or a CNN on MNIST. Writes the checkpoint, "
                                   "metrics.csv, curves.png and confusion.png into --out. Ctrl-C "
                                   "saves a resumable checkpoint.")
    t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"],
                   help="the data set (default: mnist)")
    t.add_argument("--model", default="mlp", choices=["mlp", "cnn"],
                   help="mlp: 784-512-256-10 with ReLU; cnn: two conv+pool blocks, two linear "
                        "layers (default: mlp)")
    t.add_argument("--epochs", type=_positive_int, default=None,
                   help="number of epochs (default: 10 for mlp, 5 for cnn)")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="default: 64")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.05 for sgd, 0.001 for adam), cosine-annealed")
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"],
                   help="sgd (Nesterov momentum 0.9) or adam")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default: 0)")
    t.add_argument("--seed", type=int, default=0,
                   help="seeds initialisation, the validation split, shuffling and dropout: the "
                        "same seed gives the same weights (default: 0)")
    t.add_argument("--data-dir", default=None,
                   help="folder holding the MNIST files (or a parent with mnist/); default: "
                        "$CHAINRULE_DATA/mnist, then ~/.cache/chainrule/mnist")
    t.add_argument("--download", action="store_true",
                   help="fetch missing MNIST files from the public mirrors (MD5-checked)")
    t.add_argument("--val-size", type=int, default=5000,
                   help="training images held out for validation")
    t.add_argument("--out", default=None, help="output folder (default: runs/<dataset>-<model>)")
    t.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue from a checkpoint written by train (also after Ctrl-C)")
    t.add_argument("--threads", type=_positive_int, default=None,
                   help="BLAS threads (default: NumPy's; 1 is often faster on a busy machine)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-plots", action="store_true", help="no PNG plots")

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by train")
    e.add_argument("--data-dir", default=None,
                   help="folder holding the data (default: the one the checkpoint was trained on)")
    e.add_argument("--split", default="test", choices=["test", "train"],
                   help="which split to evaluate (default: test)")

    pr = sub.add_parser("predict", help="classify digit images (PNG/JPEG) with a checkpoint")
    pr.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by train")
    pr.add_argument("images", nargs="+", metavar="IMAGE",
                    help="PNG or JPEG files, one digit each (any size; dark-on-light is inverted)")

    d = sub.add_parser("demo", help="run a worked example of backpropagation")
    d.add_argument("name", nargs="?", help="the demo (omit to list them)")
    d.add_argument("--out", default=None, help="folder for the demo's graph or plot")
    return p


def _train(args) -> int:
    from .training.loop import TrainConfig, TrainingInterrupted, train
    if args.threads:
        from .threads import set_num_threads
        set_num_threads(args.threads)
    # resuming: the checkpoint's own number of epochs unless --epochs says otherwise
    epochs = args.epochs or (None if args.resume else 10 if args.model == "mlp" else 5)
    cfg = TrainConfig(dataset=args.dataset, model=args.model, epochs=epochs,
                      batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                      momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed,
                      data_dir=args.data_dir, val_size=args.val_size,
                      out=args.out or f"runs/{args.dataset}-{args.model}",
                      progress=not args.no_progress, plots=not args.no_plots,
                      download=args.download)
    if args.resume and args.out is None:
        cfg.out = str(Path(args.resume).parent)
    try:
        train(cfg, resume=args.resume)
    except TrainingInterrupted:
        return 130
    return 0


def _evaluate(args) -> int:
    from .training.loop import evaluate_model, load_checkpoint, load_dataset
    model, cfg, _ = load_checkpoint(args.checkpoint)
    data = load_dataset(cfg.dataset, args.data_dir or cfg.data_dir, train=args.split == "train")
    loss, acc, confusion = evaluate_model(model, data)
    print(f"{cfg.model} on {cfg.dataset} {args.split}: {len(data)} images, loss {loss:.4f}, "
          f"accuracy {100 * acc:.2f}%")
    print("per-class accuracy:")
    for k, row in enumerate(confusion):
        print(f"  {k}: {100 * row[k] / max(row.sum(), 1):6.2f}%  ({row[k]}/{row.sum()})")
    print("confusion matrix (rows: true class, columns: predicted):")
    print("      " + "".join(f"{j:>6}" for j in range(len(confusion))))
    for k, row in enumerate(confusion):
        print(f"{k:>6}" + "".join(f"{v:>6}" for v in row))
    return 0


def load_digit(path) -> np.ndarray:
    """An image file as a (1, 28, 28) float32 array in [0, 1], white digit on black as in MNIST
    (a light background is inverted), centred and scaled to 20x20 inside 28x28 like MNIST."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("predict needs Pillow: pip install pillow (or 'chainrule[train]')") from e
    try:
        img = Image.open(path).convert("L")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the image ({e})") from None
    a = np.asarray(img, dtype=np.float32) / 255.0
    if a.mean() > 0.5:  # dark digit on a light background
        a = 1.0 - a
    ys, xs = np.nonzero(a > 0.1)
    if len(ys):
        a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = a.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize(size, Image.BILINEAR),
                       dtype=np.float32) / 255.0
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    return canvas[None]


def _predict(args) -> int:
    from . import from_numpy, no_grad
    from .datasets import FashionMNIST, MNIST
    from .training.loop import load_checkpoint
    model, cfg, _ = load_checkpoint(args.checkpoint)
    model.eval()
    images = np.stack([load_digit(p) for p in args.images])
    stats = FashionMNIST if cfg.dataset.startswith("fashion") else MNIST  # as in training
    x = (images - np.float32(stats.mean)) / np.float32(stats.std)
    with no_grad():
        probs = model(from_numpy(x)).softmax(dim=1)._data
    for path, p in zip(args.images, probs):
        k = int(p.argmax())
        top = ", ".join(f"{j}: {p[j]:.3f}" for j in np.argsort(-p)[:3])
        print(f"{path}: {k}  (probability {p[k]:.3f}; top 3: {top})")
    return 0


def _demo(args) -> int:
    try:
        from .viz.demos import DEMOS, run_demo
    except ImportError as e:
        print(f"demos are not available: {e}", file=sys.stderr)
        return 1
    if not args.name:
        print("demos:")
        for name, (_, about) in DEMOS.items():
            print(f"  {name:<24} {about}")
        return 0
    if args.name not in DEMOS:
        print(f"unknown demo {args.name!r}; choose one of: {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    print(run_demo(args.name, out_dir=args.out))
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    commands = {"train": _train, "evaluate": _evaluate, "predict": _predict, "demo": _demo}
    try:
        return commands[args.command](args)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
