"""The ``chainrule`` command under bad input and faults: one line on stderr, a non-zero exit, no
traceback (unless --debug); and the data on the command line (validation size, empty sets)."""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli
from chainrule.training.loop import TrainConfig, load_checkpoint, train

from ..datasets.idx_files import make_split, write_idx
from .test_train import DATA


@pytest.fixture
def data_dir(tmp_path):
    """A small MNIST folder: 100 training and 20 test images of random pixels."""
    folder = tmp_path / "data"
    make_split(folder, "train", n=100, seed=0)
    make_split(folder, "t10k", n=20, seed=1)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint of a 1-epoch MLP run on the generated digits of test_train."""
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(model="mlp", epochs=1, batch_size=64, out=str(out), val_size=64,
                      progress=False, plots=False)
    return train(cfg, data=DATA, log=lambda *a: None)["checkpoint"]


def _main(capsys, *argv):
    """Run ``chainrule ARGV`` in this process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _train_args(data_dir, out, *more):
    return ["train", "--data-dir", data_dir, "--out", out, "--epochs", "1", "--batch-size", "50",
            "--val-size", "10", "--no-progress", "--no-plots", *more]


def _one_error_line(err, command="train", ignore=()):
    """The single line of ``err`` (lines starting with ``ignore`` aside): the command's error."""
    lines = [line for line in err.splitlines() if not line.startswith(ignore)]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chainrule {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- one line, non-zero exit ------------------------------------------------------------------

@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_out_that_is_a_file_is_an_error_in_one_line(tmp_path, data_dir, debug):
    """In a real process; --debug shows the traceback instead."""
    taken = tmp_path / "notes.txt"
    taken.write_text("my notes")
    out = subprocess.run([sys.executable, "-m", "chainrule",
                          *map(str, _train_args(data_dir, taken, *debug))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stdout == ""  # refused before training started
    assert taken.read_text() == "my notes"
    if debug:
        assert out.stderr.startswith("Traceback (most recent call last)")
        assert out.stderr.splitlines()[-1].endswith(f"--out {taken}: not a folder; choose "
                                                    f"another --out")
    else:
        assert _one_error_line(out.stderr) == (f"chainrule train: error: --out {taken}: not a "
                                               f"folder; choose another --out")


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", "--epochs", "0"])
    assert stopped.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--epochs" in line and "0" in line and "chainrule train --help" in line


@contextlib.contextmanager
def _tmpfs(folder, options):
    """A small tmpfs mounted on ``folder`` (needs root, which CI is)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def _full_disk(kind, tmp_path, monkeypatch):
    """A folder whose disk fills up: a 1 MiB tmpfs (as root), or a writer that raises ENOSPC."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if kind == "tmpfs":
        with _tmpfs(folder, "size=1m"):
            yield folder
    else:
        def savez(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr("chainrule.serialization.np.savez", savez)
        yield folder


@pytest.mark.parametrize("kind", ["patched writer", "tmpfs"])
def test_disk_full_during_train_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch,
                                                            data_dir, kind):
    with _full_disk(kind, tmp_path, monkeypatch) as disk:
        code, out, err = _main(capsys, *_train_args(data_dir, disk / "run"))
        assert code == 1
        line = _one_error_line(err)
        assert str(disk / "run" / "checkpoint.npz") in line
        assert os.strerror(errno.ENOSPC) in line
        # no temporary file; the folder this run made goes too, empty
        assert not (disk / "run").exists()
        assert list(disk.iterdir()) == []


def test_resume_from_what_is_not_a_training_checkpoint(capsys, tmp_path, data_dir, checkpoint):
    np.savez(tmp_path / "random.npz", a=np.arange(3))
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    model, _, _ = load_checkpoint(checkpoint)
    cr.save(model.state_dict(), tmp_path / "weights.npz")  # a chainrule file, but only weights
    for name in ["random.npz", "notes.txt", "missing.npz", "weights.npz"]:
        code, out, err = _main(capsys, *_train_args(data_dir, tmp_path / "out", "--resume",
                                                    tmp_path / name))
        assert code == 1, name
        line = _one_error_line(err)
        assert str(tmp_path / name) in line, line
    assert "not a chainrule training checkpoint" in line


def test_evaluate_a_checkpoint_of_another_architecture(capsys, tmp_path, data_dir, checkpoint):
    state = cr.load(checkpoint)
    state["config"]["model"] = "cnn"  # MLP weights under a CNN's name
    cr.save(state, tmp_path / "liar.npz")
    code, out, err = _main(capsys, "evaluate", "--checkpoint", tmp_path / "liar.npz",
                           "--data-dir", data_dir)
    assert code == 1
    line = _one_error_line(err, "evaluate")
    assert str(tmp_path / "liar.npz") in line and "cnn" in line


def test_images_of_32_by_32_are_an_error_naming_the_size_and_file(capsys, tmp_path):
    folder = tmp_path / "big"
    for split, n in [("train", 100), ("t10k", 20)]:
        write_idx(folder / f"{split}-images-idx3-ubyte", np.zeros((n, 32, 32), np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)
    code, out, err = _main(capsys, *_train_args(folder, tmp_path / "out"))
    assert code == 1
    line = _one_error_line(err)
    assert "32x32" in line.replace("×", "x") and "train-images-idx3-ubyte" in line


def test_download_without_network_names_the_mirrors_and_the_folder(capsys, tmp_path,
                                                                  monkeypatch):
    from chainrule.datasets import MNIST
    mirrors = ["http://127.0.0.1:9/mnist/", "http://127.0.0.1:9/mirror2/"]  # nothing listens
    monkeypatch.setattr(MNIST, "mirrors", mirrors)
    code, out, err = _main(capsys, *_train_args(tmp_path / "empty", tmp_path / "out",
                                                "--download"))
    assert code == 1
    line = _one_error_line(err, ignore="downloading ")
    for mirror in mirrors:
        assert mirror + "train-images-idx3-ubyte.gz" in line
    assert str(tmp_path / "empty" / "mnist") in line


def _png_header(width, height):
    """A PNG that declares ``width`` x ``height`` grey pixels (and holds none)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20000, 10000])  # beyond Pillow's error limit; its warning's
def test_predict_a_decompression_bomb(capsys, tmp_path, checkpoint, side):
    pytest.importorskip("PIL")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(side, side))
    code, out, err = _main(capsys, "predict", "--checkpoint", checkpoint, bomb)
    assert code == 1 and out == ""
    line = _one_error_line(err, "predict")
    assert str(bomb) in line and f"{side}x{side}" in line


def test_predict_a_missing_image(capsys, tmp_path, checkpoint):
    pytest.importorskip("PIL")
    code, out, err = _main(capsys, "predict", "--checkpoint", checkpoint, tmp_path / "nope.png")
    assert code == 1 and out == ""
    line = _one_error_line(err, "predict")
    assert line == f"chainrule predict: error: {tmp_path / 'nope.png'}: no such file"


# -- without matplotlib -----------------------------------------------------------------------

def test_train_without_matplotlib_skips_the_plots_and_succeeds(tmp_path, data_dir):
    argv = [a for a in map(str, _train_args(data_dir, tmp_path / "run")) if a != "--no-plots"]
    script = ("import sys; sys.modules['matplotlib'] = None\n"  # `import matplotlib` fails
              "from chainrule.cli import main\n"
              f"sys.exit(main({argv!r}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert (out.stdout + out.stderr).count("plots skipped") == 1
    assert "pip install matplotlib" in out.stdout
    assert "curves.png" not in out.stdout and "confusion.png" not in out.stdout
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.npz",
                                                                    "metrics.csv"]
    assert cr.load(tmp_path / "run" / "checkpoint.npz")["epoch"] == 1


# -- data on the command line -----------------------------------------------------------------

def test_val_size_0_means_no_validation(capsys, tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    argv = [a for a in _train_args(data_dir, tmp_path / "run") if a != "--no-plots"]
    argv[argv.index("--val-size") + 1] = "0"
    code, out, err = _main(capsys, *argv)
    assert code == 0, err
    assert "val loss" not in out and "acc 0.00%" not in out
    assert "100 train / 0 validation / 20 test" in out
    assert "epoch  1/1  train loss" in out
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"
    assert rows[1].split(",")[3:5] == ["", ""]
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize("val_size", [100, 1000])
def test_val_size_at_or_above_the_training_size_is_an_error(capsys, tmp_path, data_dir,
                                                            val_size):
    argv = _train_args(data_dir, tmp_path / "run")
    argv[argv.index("--val-size") + 1] = str(val_size)
    code, out, err = _main(capsys, *argv)
    assert code == 1
    line = _one_error_line(err)
    assert f"--val-size {val_size}" in line and "100 training images" in line
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_negative_val_size_is_an_argument_error(capsys, tmp_path, data_dir):
    argv = _train_args(data_dir, tmp_path / "run")
    argv[argv.index("--val-size") + 1] = "-1"
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in argv])
    assert stopped.value.code == 2
    assert "--val-size" in _one_error_line(capsys.readouterr().err)


def test_negative_seed_is_an_argument_error(capsys, tmp_path, data_dir):
    """It used to fail after --out was made, as "error: expected non-negative integer" (exit 1),
    naming no flag."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in _train_args(data_dir, tmp_path / "run", "--seed", "-5")])
    assert stopped.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--seed" in line and "-5" in line
    assert not (tmp_path / "run").exists()


def test_momentum_with_adam_is_an_argument_error(capsys, tmp_path, data_dir):
    """Adam has no momentum: --optimizer adam --momentum 0.5 used to train, ignoring it."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in _train_args(data_dir, tmp_path / "run", "--optimizer", "adam",
                                              "--momentum", "0.5")])
    assert stopped.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--momentum" in line and "adam" in line
    assert not (tmp_path / "run").exists()


def test_empty_out_is_an_argument_error(capsys, tmp_path, data_dir, monkeypatch):
    """--out "" (an unset shell variable) used to write into runs/mnist-mlp in silence."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in _train_args(data_dir, "")])
    assert stopped.value.code == 2
    assert "--out" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_read_only_out_names_the_checkpoint_not_a_temporary_file(capsys, tmp_path, data_dir):
    """A read-only folder: the error named the hidden temporary file (.checkpoint.npz.PID.x.tmp)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    with _tmpfs(folder, "ro,size=1m"):
        code, out, err = _main(capsys, *_train_args(data_dir, folder))
    assert code == 1
    line = _one_error_line(err)
    assert str(folder / "checkpoint.npz") in line and os.strerror(errno.EROFS) in line
    assert ".tmp" not in line


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_empty_sets_are_errors(capsys, tmp_path, split, checkpoint):
    folder = tmp_path / "data"
    for s in ["train", "t10k"]:
        make_split(folder, s, n=0 if s == split else 100)
    code, out, err = _main(capsys, *_train_args(folder, tmp_path / "run"))
    assert code == 1
    line = _one_error_line(err)
    assert f"{split}-images-idx3-ubyte" in line and "0 images" in line
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
    if split == "t10k":
        code, out, err = _main(capsys, "evaluate", "--checkpoint", checkpoint,
                               "--data-dir", folder)
        assert code == 1 and "0 images" in _one_error_line(err, "evaluate")


def test_default_val_size_is_a_fifth_of_a_small_training_set(capsys, tmp_path, data_dir):
    argv = _train_args(data_dir, tmp_path / "run")
    del argv[argv.index("--val-size"):argv.index("--val-size") + 2]
    code, out, err = _main(capsys, *argv)
    assert code == 0, err
    assert "80 train / 20 validation / 20 test" in out
    assert Path(tmp_path / "run" / "checkpoint.npz").is_file()


# -- --out is checked before training; a failed run leaves no empty folder --------------------

@pytest.mark.parametrize("kind", ["read-only tmpfs", "full tmpfs", "patched fallocate"])
def test_an_out_that_cannot_hold_a_checkpoint_is_refused_before_training(capsys, tmp_path,
                                                                        monkeypatch, data_dir,
                                                                        kind):
    """It was found at the first checkpoint, after a whole epoch of training."""
    folder = tmp_path / "disk"
    folder.mkdir()
    reason = errno.EROFS if kind == "read-only tmpfs" else errno.ENOSPC
    if kind == "patched fallocate":
        def fallocate(fd, offset, size):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr("chainrule._io.os.posix_fallocate", fallocate, raising=False)
        mounted = contextlib.nullcontext(folder)
    else:
        mounted = _tmpfs(folder, "ro,size=1m" if kind == "read-only tmpfs" else "size=1m")
    with mounted:
        code, out, err = _main(capsys, *_train_args(data_dir, folder))
        left = sorted(p.name for p in folder.iterdir())
    assert code == 1
    assert out == ""  # not one step: "training mlp ..." and "epoch 1/1 ..." never printed
    line = _one_error_line(err)
    assert line == (f"chainrule train: error: {folder / 'checkpoint.npz'}: cannot write it: "
                    f"{os.strerror(reason)}; the previous version, if any, is unchanged")
    assert left == []  # the probe's temporary file is gone


@pytest.mark.parametrize("case", ["empty data", "missing data", "val-size too big", "no room"])
def test_a_failed_run_leaves_no_empty_out_folder(capsys, tmp_path, monkeypatch, data_dir, case):
    """These runs used to leave an empty --out (and its parents) behind."""
    if case == "empty data":
        data_dir = tmp_path / "empty"
        make_split(data_dir, "train", n=0)
        make_split(data_dir, "t10k", n=20)
    elif case == "missing data":
        data_dir = tmp_path / "nowhere"
    elif case == "no room":  # after the folder is made: the probe fails
        def fallocate(fd, offset, size):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr("chainrule._io.os.posix_fallocate", fallocate, raising=False)
    argv = _train_args(data_dir, tmp_path / "a" / "b" / "run")
    if case == "val-size too big":
        argv[argv.index("--val-size") + 1] = "1000"
    code, out, err = _main(capsys, *argv)
    assert code == 1
    _one_error_line(err)
    assert not (tmp_path / "a").exists()
    # a folder that was there before stays, empty as it was
    (tmp_path / "mine").mkdir()
    code, out, err = _main(capsys, *_train_args(tmp_path / "nowhere", tmp_path / "mine"))
    assert code == 1 and (tmp_path / "mine").is_dir()


# -- checkpoints that are not what train writes -----------------------------------------------

def _evaluate_and_predict(capsys, tmp_path, ckpt, data_dir):
    """The error lines of ``evaluate`` and ``predict`` on ``ckpt``."""
    from PIL import Image
    digit = tmp_path / "digit.png"
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    Image.fromarray(image).save(digit)
    lines = []
    for argv in (["evaluate", "--checkpoint", ckpt, "--data-dir", data_dir],
                 ["predict", "--checkpoint", ckpt, digit]):
        code, out, err = _main(capsys, *argv)
        assert code == 1 and out == "", (argv[0], out, err)
        lines.append(_one_error_line(err, argv[0]))
    return lines


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_weights_that_are_not_finite_are_refused_by_evaluate_and_predict(capsys, tmp_path,
                                                                       data_dir, checkpoint,
                                                                       value):
    """cr.save writes such a file; evaluate said "loss nan, accuracy 8.40%" and exited 0."""
    pytest.importorskip("PIL")
    state = cr.load(checkpoint)
    weight = np.array(state["model"]["3.weight"])
    weight[1, 2] = value
    state["model"]["3.weight"] = weight
    cr.save(state, tmp_path / "bad.npz")
    for line in _evaluate_and_predict(capsys, tmp_path, tmp_path / "bad.npz", data_dir):
        assert str(tmp_path / "bad.npz") in line and "3.weight" in line
        assert "NaN or Inf" in line


@pytest.mark.parametrize("dtype", [np.int8, np.complex64, np.bool_])
def test_weights_of_another_dtype_are_refused_naming_the_parameter(capsys, tmp_path, data_dir,
                                                                   checkpoint, dtype):
    """They were cast into the float32 model in silence (complex losing its imaginary part)."""
    pytest.importorskip("PIL")
    state = cr.load(checkpoint)
    state["model"]["1.bias"] = (np.array(state["model"]["1.bias"]) * 100).astype(dtype)
    cr.save(state, tmp_path / "cast.npz")
    for line in _evaluate_and_predict(capsys, tmp_path, tmp_path / "cast.npz", data_dir):
        assert str(tmp_path / "cast.npz") in line and "1.bias" in line
        assert np.dtype(dtype).name in line and "float32" in line


def _resume_args(ckpt, data_dir, out):
    """Resume ``ckpt`` (the module's checkpoint, batch 64 and 64 validation images) for 2 epochs."""
    return ["train", "--resume", ckpt, "--data-dir", data_dir, "--out", out, "--epochs", "2",
            "--no-progress", "--no-plots"]


_CONFIG_FIELDS = [("config.dataset", 3), ("config.model", ["mlp"]), ("config.lr", float("nan")),
                  ("config.epochs", "3"), ("config.batch_size", 0), ("config.momentum", 2.0)]
_RESUME_FIELDS = [("epoch", "1"), ("epoch", 7), ("step", -3), ("step", 10 ** 6),
                  ("sums", {"loss": 1.0}), ("history", "none"), ("history", [{"epoch": 1}]),
                  ("optimizer", {"state": {}, "param_groups": []})]


@pytest.mark.parametrize("command,field,value",
                         [("train --resume", *f) for f in _CONFIG_FIELDS + _RESUME_FIELDS]
                         + [("evaluate", *f) for f in _CONFIG_FIELDS])
def test_a_checkpoint_field_of_the_wrong_type_is_an_error_naming_the_file_and_field(
        capsys, tmp_path, data_dir, checkpoint, command, field, value):
    """They gave an AttributeError or a TypeError naming no file, suggested "--lr nan", or (a
    step out of range) skipped or repeated an epoch in silence."""
    state = cr.load(checkpoint)
    where, _, key = field.rpartition(".")
    (state[where] if where else state)[key] = value
    bad = tmp_path / "hand-made.npz"
    cr.save(state, bad)
    argv = (_resume_args(bad, data_dir, tmp_path / "out") if command.startswith("train") else
            ["evaluate", "--checkpoint", bad, "--data-dir", data_dir])
    code, out, err = _main(capsys, *argv)
    assert code == 1, (out, err)
    line = _one_error_line(err, argv[0])
    assert str(bad) in line and field in line, line
    assert "--lr nan" not in line and "Error:" not in line
    assert not (tmp_path / "out").exists()


# -- --threads and --data-dir -----------------------------------------------------------------

def test_more_threads_than_cpus_is_an_argument_error(capsys, tmp_path, data_dir):
    """--threads 64 on 2 CPUs was accepted and made an epoch 300 times slower."""
    cpus = os.cpu_count()
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in _train_args(data_dir, tmp_path / "run", "--threads",
                                              cpus + 1)])
    assert stopped.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--threads: {cpus + 1} is more than the {cpus} CPU" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_data_dir_that_is_a_file_says_so(capsys, tmp_path, checkpoint, command):
    """It said "The folder X does not exist"."""
    file = tmp_path / "train-images-idx3-ubyte"
    file.write_bytes(b"not a folder")
    argv = (_train_args(file, tmp_path / "run") if command == "train" else
            ["evaluate", "--checkpoint", checkpoint, "--data-dir", file])
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in argv])
    assert stopped.value.code == 2
    line = _one_error_line(capsys.readouterr().err, command)
    assert f"--data-dir: {file} is a file, not a folder" in line
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        cr.datasets.MNIST(root=file)  # and in Python
