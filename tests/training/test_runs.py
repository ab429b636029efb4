"""Runs are never lost nor silently wrong: an existing run is refused, NaN stops training and keeps
the last good checkpoint, bad hyperparameters are refused at parse time, and resuming says what it
does with the schedule and with flags that differ from the checkpoint."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli
from chainrule.training.loop import TrainingDiverged, TrainingInterrupted, train

from .test_train import DATA, _cfg, _weights

MNIST = Path("/work/shared/data/mnist")
QUIET = dict(log=lambda *a: None)


def _run(tmp_path, name, **kw):
    return train(_cfg(tmp_path, name, **kw), data=DATA, **QUIET)


def _main(capsys, *argv):
    """``chainrule train ARGS``: (exit code, stdout, stderr)."""
    try:
        code = cli.main(["train", "--no-progress", "--no-plots", *map(str, argv)])
    except SystemExit as stop:  # argparse's errors
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


# -- never overwrite a run by accident --------------------------------------------------------

@pytest.mark.parametrize("left", ["checkpoint.npz", "metrics.csv"])
def test_train_into_a_folder_holding_a_run_refuses_and_names_the_way_out(tmp_path, capsys, left):
    _run(tmp_path, "run", epochs=1)
    folder = tmp_path / "run"
    if left == "metrics.csv":
        (folder / "checkpoint.npz").unlink()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, _, err = _main(capsys, "--out", folder, "--data-dir", tmp_path / "nowhere")
    assert code == 1
    line, = err.strip().splitlines()
    assert str(folder) in line and "--resume" in line and "--overwrite" in line and "--out" in line
    if left == "checkpoint.npz":  # what the run is, read from its checkpoint
        assert "mlp on mnist" in line and "1 of 1 epoch" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_overwrite_replaces_the_old_run_only_when_the_new_one_writes_its_checkpoint(tmp_path):
    old = _run(tmp_path, "run", epochs=1)
    ckpt = old["checkpoint"]
    old_bytes = ckpt.read_bytes()
    (tmp_path / "run" / "curves.png").write_bytes(b"old plot")
    seen = []

    def look(epoch, step):  # during the first epoch the old run is still whole
        if step == 5:
            seen.append((ckpt.read_bytes() == old_bytes, (tmp_path / "run" / "metrics.csv").exists()))

    new = train(_cfg(tmp_path, "run", epochs=1, seed=7, overwrite=True), data=DATA, on_step=look,
                **QUIET)
    assert seen == [(True, True)]
    assert ckpt.read_bytes() != old_bytes
    state = cr.load(ckpt)
    assert state["config"]["seed"] == 7
    for k, v in _weights(new["model"]).items():
        assert np.array_equal(np.asarray(state["model"][k]), v), k
    assert not (tmp_path / "run" / "curves.png").exists()  # the old run's plot went with it
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []


def test_overwrite_of_a_run_that_diverges_at_once_keeps_the_old_run(tmp_path):
    old = _run(tmp_path, "run", epochs=1)
    old_bytes = old["checkpoint"].read_bytes()
    with pytest.raises(TrainingDiverged):
        train(_cfg(tmp_path, "run", epochs=1, lr=1e6, overwrite=True), data=DATA, **QUIET)
    assert old["checkpoint"].read_bytes() == old_bytes


# -- NaN and Inf during training --------------------------------------------------------------

def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import chainrule.training.loop as loop
    built = {}
    real_build = loop.build_model
    monkeypatch.setattr(loop, "build_model", lambda name: built.setdefault("m", real_build(name)))
    kept = {}

    def poison(epoch, step):
        if (epoch, step) == (1, 3):  # epoch 2: the epoch-1 checkpoint is on disk
            kept["bytes"] = (tmp_path / "nan" / "checkpoint.npz").read_bytes()
            next(built["m"].parameters())._data[0, 0] = np.nan

    with pytest.raises(TrainingDiverged) as err:
        train(_cfg(tmp_path, "nan", epochs=3), data=DATA, on_step=poison, **QUIET)
    msg = str(err.value)
    assert "epoch 2, step 4" in msg and "nan" in msg and "--lr" in msg and "data" in msg
    assert "checkpoint.npz" in msg and "kept" in msg
    assert (tmp_path / "nan" / "checkpoint.npz").read_bytes() == kept["bytes"]
    state = cr.load(tmp_path / "nan" / "checkpoint.npz")
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert all(np.isfinite(np.asarray(v)).all() for v in state["model"].values())


def test_weights_that_are_not_finite_are_never_written(tmp_path, monkeypatch):
    """The last step of epoch 1 makes a weight NaN: no loss sees it, the checkpoint check does."""
    import chainrule.training.loop as loop
    built = {}
    real_build = loop.build_model
    monkeypatch.setattr(loop, "build_model", lambda name: built.setdefault("m", real_build(name)))

    def poison(epoch, step):
        if (epoch, step) == (0, 18):  # 576 training images / 32: the epoch's last step
            next(built["m"].parameters())._data[0, 0] = np.inf

    with pytest.raises(TrainingDiverged) as err:
        train(_cfg(tmp_path, "inf", epochs=2), data=DATA, on_step=poison, **QUIET)
    assert "the end of epoch 1" in str(err.value) and "weight" in str(err.value)
    assert not (tmp_path / "inf" / "checkpoint.npz").exists()


@pytest.mark.skipif(not MNIST.exists(), reason="needs the MNIST files")
def test_cli_lr_1e6_stops_with_one_line_and_exit_1(tmp_path, capsys):
    code, out, err = _main(capsys, "--data-dir", MNIST, "--out", tmp_path / "big", "--lr", "1e6",
                           "--epochs", "1", "--val-size", "1000")
    assert code == 1, (out, err)
    line, = err.strip().splitlines()
    assert "epoch 1, step" in line and "lr 1e+06" in line and "--lr 5e+05" in line
    assert "no checkpoint" in line
    assert not (tmp_path / "big" / "checkpoint.npz").exists()


# -- hyperparameters on the command line ------------------------------------------------------

@pytest.mark.parametrize("flag,value", [
    ("--lr", "nan"), ("--lr", "inf"), ("--lr", "-0.1"), ("--lr", "0"), ("--lr", "-inf"),
    ("--momentum", "nan"), ("--momentum", "inf"), ("--momentum", "-0.5"), ("--momentum", "1"),
    ("--weight-decay", "nan"), ("--weight-decay", "inf"), ("--weight-decay", "-1e-4"),
    ("--lr", "abc"),
])
def test_bad_hyperparameters_are_refused_at_parse_time(tmp_path, capsys, flag, value):
    code, _, err = _main(capsys, "--out", tmp_path / "o", f"{flag}={value}")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert flag in last and value in last
    assert not (tmp_path / "o").exists()


# -- resume -----------------------------------------------------------------------------------

def test_extending_a_finished_run_recomputes_the_cosine_schedule(tmp_path):
    """1 epoch at lr 0.05, then --epochs 3: epochs 2 and 3 train at the lr a 3-epoch cosine
    schedule gives them, 0.05 (1 + cos(pi k / 3)) / 2, not at the finished schedule's 0."""
    first = _run(tmp_path, "run", epochs=1, lr=0.05)
    lines = []
    more = train(_cfg(tmp_path, "run", epochs=3, lr=None), resume=first["checkpoint"],
                 data=DATA, log=lines.append)
    lrs = [h["lr"] for h in more["history"]]
    assert lrs[0] == 0.05
    assert lrs[1:] == pytest.approx([0.05 * (1 + math.cos(math.pi * k / 3)) / 2 for k in (1, 2)])
    assert more["history"][2]["train_loss"] < more["history"][0]["train_loss"]
    assert any("3 epochs" in line and "lr 0.0375" in line for line in lines), lines


def test_resuming_a_finished_run_without_more_epochs_says_how_to_extend(tmp_path, capsys):
    first = _run(tmp_path, "run", epochs=2)
    code, _, err = _main(capsys, "--resume", first["checkpoint"])
    assert code == 1
    line, = err.strip().splitlines()
    assert "finished" in line and "2 epochs" in line and "--epochs" in line
    code, _, err = _main(capsys, "--resume", first["checkpoint"], "--epochs", "1")
    assert code == 1 and "--epochs 1" in err and "2 epochs" in err


@pytest.mark.parametrize("flag,value,saved", [
    ("--model", "cnn", "mlp"), ("--optimizer", "adam", "sgd"), ("--dataset", "fashion-mnist", "mnist"),
    ("--batch-size", "16", "32"), ("--momentum", "0.5", "0.9"), ("--weight-decay", "0.001", "0"),
    ("--seed", "9", "3"), ("--val-size", "100", "64"),
])
def test_a_flag_that_conflicts_with_the_checkpoint_is_refused_by_name(tmp_path, capsys, flag,
                                                                      value, saved):
    first_cfg = _cfg(tmp_path, "run", epochs=1)
    first = train(first_cfg, data=DATA, **QUIET)
    before = first["checkpoint"].read_bytes()
    code, _, err = _main(capsys, "--resume", first["checkpoint"], "--epochs", "2", flag, value)
    assert code == 1
    line, = err.strip().splitlines()
    assert f"{flag} {value}" in line and saved in line
    assert first["checkpoint"].read_bytes() == before
    # the checkpoint's own value is no conflict
    name = flag[2:].replace("-", "_")
    kind = type(getattr(first_cfg, name))
    same = saved if kind is str else kind(saved)
    more = train(_cfg(tmp_path, "run", epochs=2, **{name: same}), resume=first["checkpoint"],
                 data=DATA, **QUIET)
    assert len(more["history"]) == 2


def test_lr_given_with_resume_is_applied_with_a_line(tmp_path):
    first = _run(tmp_path, "run", epochs=1, lr=0.05)
    lines = []
    more = train(_cfg(tmp_path, "run", epochs=2, lr=0.01), resume=first["checkpoint"], data=DATA,
                 log=lines.append)
    assert more["history"][1]["lr"] == pytest.approx(0.01 * (1 + math.cos(math.pi / 2)) / 2)
    assert any("--lr 0.01" in line and "0.05" in line for line in lines), lines
    assert cr.load(more["checkpoint"])["config"]["lr"] == 0.01


@pytest.mark.parametrize("at, kept", [((0, 3), "no checkpoint was written"),
                                      ((1, 3), "(the end of epoch 1), is kept")])
def test_a_second_ctrl_c_says_what_was_kept(tmp_path, at, kept):
    """The second Ctrl-C stops at once, without saving: it used to say only "interrupted"."""
    def ctrl_c_twice(epoch, step):
        if (epoch, step) == at:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt) as stopped:
        train(_cfg(tmp_path, "run"), data=DATA, on_step=ctrl_c_twice, **QUIET)
    line = cli._one_line(stopped.value)
    assert "second Ctrl-C" in line and kept in line, line
    if at[0] == 1:
        assert f"--resume {tmp_path / 'run' / 'checkpoint.npz'}" in line, line


def test_data_dir_given_with_resume_is_applied_with_a_line(tmp_path):
    """--resume CK --data-dir OTHER used to train on OTHER's images in silence, and record it."""
    old, new = str(tmp_path / "old-data"), str(tmp_path / "new-data")
    first = _run(tmp_path, "run", epochs=1, data_dir=old)
    lines = []
    more = train(_cfg(tmp_path, "run", epochs=2, data_dir=new), resume=first["checkpoint"],
                 data=DATA, log=lines.append)
    assert any(f"--data-dir {new}" in line and old in line for line in lines), lines
    assert cr.load(more["checkpoint"])["config"]["data_dir"] == new
    lines.clear()  # the same folder again: no line
    train(_cfg(tmp_path, "run", epochs=3, data_dir=new), resume=more["checkpoint"], data=DATA,
          log=lines.append)
    assert not any("--data-dir" in line for line in lines), lines


def test_extending_an_interrupted_run_stretches_its_schedule(tmp_path):
    def ctrl_c(epoch, step):
        if (epoch, step) == (0, 5):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        train(_cfg(tmp_path, "run", epochs=2, lr=0.05), data=DATA, on_step=ctrl_c, **QUIET)
    more = train(_cfg(tmp_path, "run", epochs=4, lr=None), resume=stopped.value.path, data=DATA,
                 **QUIET)
    assert [h["lr"] for h in more["history"]] == pytest.approx(
        [0.05 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)])


# -- a failed run leaves no empty folder ------------------------------------------------------

def test_a_run_that_diverges_before_its_first_checkpoint_leaves_no_empty_folder(tmp_path,
                                                                             monkeypatch):
    """A NaN at step 3 left an empty --out (and the parents it made) behind."""
    import chainrule.training.loop as loop
    built = {}
    real_build = loop.build_model
    monkeypatch.setattr(loop, "build_model", lambda name: built.setdefault("m", real_build(name)))

    def poison(epoch, step):
        if (epoch, step) == (0, 3):
            next(built["m"].parameters())._data[0, 0] = np.nan

    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    for out, gone in [(tmp_path / "a" / "b" / "run", tmp_path / "a"),
                      (tmp_path / "kept" / "run", tmp_path / "kept" / "run")]:
        built.clear()
        with pytest.raises(TrainingDiverged, match="epoch 1, step 4"):
            train(_cfg(tmp_path, str(out), epochs=2), data=DATA, on_step=poison, **QUIET)
        assert not gone.exists()
    assert (tmp_path / "kept" / "notes.txt").read_text() == "mine"  # what was there stays
    # an empty folder that existed before the run is not this run's to remove
    (tmp_path / "empty").mkdir()
    built.clear()
    with pytest.raises(TrainingDiverged):
        train(_cfg(tmp_path, "empty", epochs=2), data=DATA, on_step=poison, **QUIET)
    assert (tmp_path / "empty").is_dir()


# -- SIGTERM ----------------------------------------------------------------------------------

_SIGTERM_AT_STEP_3 = """\
import os, signal, sys
import chainrule.training.loop as loop
real_train = loop.train

def train(cfg, resume=None, **kw):  # a real SIGTERM from outside, at a known step
    def on_step(epoch, step):
        if (epoch, step) == (0, 3):
            os.kill(os.getpid(), signal.SIGTERM)
    return real_train(cfg, resume=resume, on_step=on_step, **kw)

loop.train = train
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(tmp_path):
    """kill, timeout and docker stop send SIGTERM: it killed the run and lost the epoch."""
    import subprocess
    import sys

    from ..datasets.idx_files import make_split
    data = tmp_path / "data"
    make_split(data, "train", n=100, seed=0)
    make_split(data, "t10k", n=20, seed=1)
    out = tmp_path / "run"
    argv = ["train", "--data-dir", data, "--out", out, "--epochs", "2", "--batch-size", "10",
            "--val-size", "10", "--no-progress", "--no-plots"]
    run = subprocess.run([sys.executable, "-c", _SIGTERM_AT_STEP_3, *map(str, argv)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 143, run.stderr
    ckpt = out / "checkpoint.npz"
    assert run.stdout.splitlines()[-1] == (
        f"terminated by SIGTERM at epoch 1, step 3: saved {ckpt}; resume with: chainrule "
        f"train --resume {ckpt}")
    assert "Traceback" not in run.stderr
    state = cr.load(ckpt)
    assert (state["epoch"], state["step"]) == (0, 3)
    code = cli.main(["train", "--resume", str(ckpt), "--no-progress", "--no-plots"])
    assert code == 0
    assert cr.load(ckpt)["epoch"] == 2
