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
        assert [p.name for p in (disk / "run").iterdir()] in ([], ["metrics.csv"])  # no temp file


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
