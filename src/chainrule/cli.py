"""The ``chainrule`` command: train, evaluate, predict, demo."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from .datasets.digits import load_digit  # predict's preprocessing, MNIST's recipe


def _int_from(low: int):
    """An argparse type: an integer of at least ``low``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text}")
        return value
    parse.__name__ = "integer"  # argparse's "invalid integer value: 'x'"
    return parse


_positive_int, _non_negative_int = _int_from(1), _int_from(0)


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 (a free one) to 65535."""
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text}")
    return value


def _folder(text: str) -> str:
    """An argparse type: a path that is not empty (an unset shell variable)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return text


def _threads(text: str) -> int:
    """An argparse type: a thread count from 1 to the number of CPUs (more made an epoch
    hundreds of times slower, the threads waiting on one another)."""
    value, cpus = _positive_int(text), os.cpu_count()
    if cpus is not None and value > cpus:
        raise argparse.ArgumentTypeError(f"{text} is more than the {cpus} CPU{'s' * (cpus != 1)} "
                                         f"of this machine; give at most {cpus}")
    return value


def _data_folder(text: str) -> str:
    """An argparse type: a folder for the data, not a file."""
    if Path(text).expanduser().is_file():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; give the folder "
                                         f"that holds the data files")
    return text


def _number(low: float, high: float = math.inf, low_open: bool = False):
    """An argparse type: a finite float from ``low`` (excluded if ``low_open``) to below
    ``high``; NaN and Inf are refused, and the error names the range."""
    interval = (f"{'>' if low_open else '>='} {low:g}" if math.isinf(high) else
                f"in {'(' if low_open else '['}{low:g}, {high:g})")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        above = low < value if low_open else low <= value
        if not (math.isfinite(value) and above and value < high):
            raise argparse.ArgumentTypeError(f"must be a finite number {interval}, got {text}")
        return value
    return parse


def _tensorboard_folder(text: str) -> str:
    """An argparse type: a folder for TensorBoard's event files, not a file."""
    if text and Path(text).expanduser().is_file():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


class _Parser(argparse.ArgumentParser):
    """An argument error is one line on stderr (exit 2), not the usage and then the error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="chainrule",
        description="chainrule: backpropagation you can do, see and check.")
    p.add_argument("--debug", action="store_true", dest="debug_all",
                   help="show the traceback of an error (also after a command: train --debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="train a network on MNIST",
                       description="Train an MLP or a CNN on MNIST. Writes the checkpoint, "
                                   "metrics.csv, curves.png and confusion.png into --out. Ctrl-C "
                                   "saves a resumable checkpoint. With --model char-lstm or "
                                   "char-transformer: a character-level language model of "
                                   "English words (--dataset words), printing sampled words "
                                   "each epoch and the validation bits per character.")
    # defaults None: with --resume, a flag not given means the checkpoint's value
    t.add_argument("--dataset", default=None, choices=["mnist", "fashion-mnist", "words"],
                   help="the data set (default: mnist; words: the English word list of "
                        "/usr/share/dict/words, for the char models)")
    t.add_argument("--model", default=None,
                   choices=["mlp", "cnn", "char-lstm", "char-transformer"],
                   help="mlp: 784-512-256-10 with ReLU; cnn: two conv+pool blocks, two linear "
                        "layers (default: mlp); char-lstm, char-transformer: character-level "
                        "language models of --dataset words (adam; 2 epochs for char-lstm, 1 for "
                        "char-transformer; batch 128; no --resume)")
    t.add_argument("--epochs", type=_positive_int, default=None,
                   help="number of epochs (default: 10 for mlp, 5 for cnn)")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default: 64")
    t.add_argument("--lr", type=_number(0.0, low_open=True), default=None,
                   help="learning rate (default: 0.05 for sgd, 0.001 for adam), cosine-annealed")
    t.add_argument("--optimizer", default=None, choices=["sgd", "adam"],
                   help="sgd (Nesterov momentum 0.9) or adam")
    t.add_argument("--momentum", type=_number(0.0, 1.0), default=None,
                   help="SGD momentum, in [0, 1) (default: 0.9)")
    t.add_argument("--weight-decay", type=_number(0.0), default=None,
                   help="L2 penalty (default: 0)")
    t.add_argument("--seed", type=_non_negative_int, default=None,
                   help="seeds initialisation, the validation split, shuffling and dropout: the "
                        "same seed gives the same weights (default: 0)")
    t.add_argument("--data-dir", type=_data_folder, default=None,
                   help="folder holding the MNIST files (or a parent with mnist/); default: "
                        "$CHAINRULE_DATA/mnist, then ~/.cache/chainrule/mnist")
    t.add_argument("--download", action="store_true",
                   help="fetch missing MNIST files from the public mirrors (MD5-checked)")
    t.add_argument("--val-size", type=_non_negative_int, default=None,
                   help="training images held out for validation; 0: no validation (default: "
                        "5000, or a fifth of a smaller training set)")
    t.add_argument("--out", type=_folder, default=None,
                   help="output folder (default: runs/<dataset>-<model>)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (it stays until the new run writes "
                        "its first checkpoint)")
    t.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue from a checkpoint written by train (also after Ctrl-C); "
                        "--epochs N trains a finished run longer; --lr is applied; other "
                        "settings are the checkpoint's (a different value is refused)")
    t.add_argument("--threads", type=_threads, default=None,
                   help="BLAS threads, at most the number of CPUs (default: NumPy's; 1 is often "
                        "faster on a busy machine)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-plots", action="store_true", help="no PNG plots")
    t.add_argument("--distributed", action="store_true",
                   help="one process per rank, started by mpirun -n N chainrule train "
                        "--distributed ...: each rank trains on its share of every epoch, "
                        "gradients are averaged over the ranks; --batch-size is per rank; rank 0 "
                        "writes the files (needs pip install 'chainrule[distributed]')")
    t.add_argument("--monitor", action="store_true",
                   help="watch every layer through hooks, one step in ten: print what goes wrong "
                        "(vanishing or exploding gradients, NaN, dead ReLUs, update ratios far "
                        "from 1e-3), naming the layer and the step, and write gradient_flow.png, "
                        "update_ratio.png, activations.png and dead_units.png into --out")
    t.add_argument("--tensorboard", metavar="DIR", nargs="?", const="", default=None,
                   type=_tensorboard_folder,
                   help="write TensorBoard event files into DIR (default: --out's tensorboard/): "
                        "loss, accuracy, lr, per-layer norms and update ratios, histograms each "
                        "epoch, the confusion matrix, the hyperparameters; needs "
                        "pip install 'chainrule[tensorboard]'")

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    e.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by train")
    e.add_argument("--data-dir", type=_data_folder, default=None,
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
    d.add_argument("--source", action="store_true",
                   help="print where the demo's code is (examples/NAME.py), instead of running it")

    x = sub.add_parser("export", help="write a checkpoint's model as ONNX (onnxruntime, Netron)",
                       description="Export the model of a checkpoint written by train to ONNX: "
                                   "input (N, 1, 28, 28) float32, normalised as in training; "
                                   "output (N, 10) logits; N is free.")
    x.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by train")
    x.add_argument("--out", required=True, type=_folder, help="the .onnx file to write")
    x.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    x.add_argument("--opset", type=_int_from(13), default=None,
                   help="ONNX opset version, 13 to 23 (default: 20, as torch.onnx)")
    pg = sub.add_parser("playground", help="train a small network in your browser and see its "
                        "backward pass", description="A local web page in the spirit of "
                        "TensorFlow Playground: chainrule trains a network on 2-D data; pause on "
                        "any step to see that batch's backward pass. Needs "
                        "pip install 'chainrule[playground]'.")
    pg.add_argument("--port", type=_port, default=8000,
                    help="the port on 127.0.0.1 (default: 8000; 0: a free one)")
    pg.add_argument("--open", action="store_true", help="open the page in the default browser")
    sa = sub.add_parser("sample", help="draw words from a character model trained by train "
                        "--model char-lstm or char-transformer")
    sa.add_argument("--checkpoint", required=True, help="a checkpoint.npz written by train")
    sa.add_argument("--num", type=_positive_int, default=10, help="words to draw (default: 10)")
    sa.add_argument("--temperature", type=_number(0.0, low_open=True), default=1.0,
                    help="divides the logits: below 1 safer words, above 1 wilder (default: 1)")
    sa.add_argument("--prefix", default="", help="letters every word starts with")
    sa.add_argument("--seed", type=_non_negative_int, default=None,
                    help="the same seed draws the same words (default: new ones each time)")
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show the traceback of an error instead of one line")
    return p


def _train(args) -> int:
    from .training.text import train_from_args, wants_text
    if wants_text(args):  # a character-level language model (training/text.py)
        return train_from_args(args)
    from .training.loop import TrainConfig, TrainingInterrupted, train
    if args.threads:
        from .threads import set_num_threads
        set_num_threads(args.threads)
    # a setting not given is None: the checkpoint's when resuming, else train's default
    model, dataset = args.model or "mlp", args.dataset or "mnist"
    epochs = args.epochs or (None if args.resume else 10 if model == "mlp" else 5)
    cfg = TrainConfig(dataset=args.dataset, model=args.model, epochs=epochs,
                      batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                      momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed,
                      data_dir=args.data_dir, val_size=args.val_size,
                      out=args.out or f"runs/{dataset}-{model}",
                      progress=not args.no_progress, plots=not args.no_plots,
                      download=args.download, overwrite=args.overwrite,
                      monitor=args.monitor, tensorboard=args.tensorboard,
                      distributed=args.distributed)
    if args.resume and args.out is None:
        cfg.out = str(Path(args.resume).parent)
    out = Path(cfg.out)
    file = next((f for f in (out, *out.parents) if f.exists() and not f.is_dir()), None)
    if file is not None:
        where = "" if file == out else f" ({file} is a file)"
        raise ValueError(f"--out {out}{where}: not a folder; choose another --out")
    try:
        train(cfg, resume=args.resume)
    except TrainingInterrupted as stopped:
        return 128 + stopped.signum  # 130 after Ctrl-C, 143 after SIGTERM, as the shell's
    except (Exception, KeyboardInterrupt) as e:
        if args.distributed and not (args.debug or args.debug_all):
            _stop_ranks(e)
        raise
    return 0


def _stop_ranks(e: BaseException) -> None:
    """An error on one rank of ``train --distributed``: say it, then end every rank (none may
    wait in a collective for this one)."""
    from . import distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    from .training.ranks import Ranks
    code = 128 + getattr(e, "signum", 2) if isinstance(e, KeyboardInterrupt) else 1
    if dist.get_rank() == 0:
        print(f"chainrule train: error: {_one_line(e)}", file=sys.stderr)
    Ranks(True).fail(_one_line(e), code)


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


def _export(args) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give the .onnx file to write")
    if out.exists() and not args.overwrite:
        raise ValueError(f"--out {out} exists; add --overwrite to replace it, or choose "
                         f"another --out")
    from . import onnx, zeros
    from .datasets import FashionMNIST, MNIST
    from .training.loop import load_checkpoint
    model, cfg, _ = load_checkpoint(args.checkpoint)
    stats = FashionMNIST if cfg.dataset.startswith("fashion") else MNIST
    onnx.export(model, (zeros(1, 1, 28, 28),), str(out), input_names=["input"],
                output_names=["logits"], opset_version=args.opset,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(f"wrote {out}: the {cfg.model} of {args.checkpoint}; input 'input' (N, 1, 28, 28) "
          f"float32, pixels in [0, 1] normalised as (x - {stats.mean}) / {stats.std}; output "
          f"'logits' (N, 10)")
    return 0


def _demo(args) -> int:
    try:
        from .examples import DEMOS, run_demo, source
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
    if args.source:
        print(source(args.name))
        return 0
    print(run_demo(args.name, out_dir=args.out))
    return 0


def _sample(args) -> int:
    from .training.text import sample_from_args
    return sample_from_args(args)


def _playground(args) -> int:
    from .viz.playground.app import serve
    serve(port=args.port, open_browser=args.open)
    return 0


def _one_line(e: BaseException) -> str:
    """An error as one line: an OSError as "file: reason", a message of several lines joined,
    the type named unless it is one of the kinds chainrule raises on bad input."""
    if isinstance(e, KeyboardInterrupt):  # a second Ctrl-C in train says what was kept
        return str(e) or "interrupted"
    text = str(e)
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror if e.filename is None else f"{e.filename}: {e.strerror}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = "".join(f"{line} " if line.endswith(":") or k == len(lines) - 1 else f"{line}; "
                   for k, line in enumerate(lines)).strip()
    if not isinstance(e, (ValueError, OSError, RuntimeError, ImportError)) or not text:
        text = f"{type(e).__name__}: {text} (run with --debug for the traceback)"
    return text


def main(argv=None) -> int:
    """The ``chainrule`` command. A failure is one line on stderr and exit status 1 (130 after
    Ctrl-C, 2 for a bad argument); ``--debug`` shows the traceback instead."""
    args = _parser().parse_args(argv)
    if args.command == "train" and args.optimizer == "adam" and args.momentum is not None:
        sys.stderr.write("chainrule train: error: argument --momentum: SGD's momentum; "
                         "--optimizer adam has none, drop --momentum "
                         "(see chainrule train --help)\n")
        sys.exit(2)  # as argparse's errors
    commands = {"train": _train, "evaluate": _evaluate, "predict": _predict, "demo": _demo,
                "export": _export, "playground": _playground, "sample": _sample}
    try:
        return commands[args.command](args)
    except (Exception, KeyboardInterrupt) as e:
        if args.debug or args.debug_all:
            raise
        print(f"chainrule {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 128 + getattr(e, "signum", 2) if isinstance(e, KeyboardInterrupt) else 1


if __name__ == "__main__":
    sys.exit(main())
