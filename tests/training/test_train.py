"""The training loop and the command: reproducible, resumable, and its errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import TensorDataset
from chainrule.training.loop import TrainConfig, TrainingInterrupted, load_checkpoint, train


def _digits(n, seed):
    """Small MNIST-shaped data that can be learned: each class lights up its own band of rows."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.normal(0, 0.3, (n, 1, 28, 28)).astype(np.float32)
    for k in range(10):
        images[labels == k, 0, 2 * k + 4: 2 * k + 7, 4:24] += 2.0
    return TensorDataset(images, labels.astype(np.int64))


DATA = (_digits(640, 0), _digits(200, 1))


def _cfg(tmp_path, name, **kw):
    base = dict(model="mlp", epochs=2, batch_size=32, seed=3, out=str(tmp_path / name),
                val_size=64, progress=False, plots=False)
    base.update(kw)
    return TrainConfig(**base)


def _weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def test_training_learns(tmp_path):
    result = train(_cfg(tmp_path, "a", epochs=3), data=DATA, log=lambda *a: None)
    assert result["history"][0]["train_loss"] > result["history"][-1]["train_loss"]
    assert result["test_acc"] > 0.9
    lines = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds" and len(lines) == 4


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_same_seed_gives_bit_identical_weights(tmp_path, model):
    kw = dict(model=model, epochs=1) if model == "cnn" else {}
    a = train(_cfg(tmp_path, "a", **kw), data=DATA, log=lambda *a: None)
    b = train(_cfg(tmp_path, "b", **kw), data=DATA, log=lambda *a: None)
    wa, wb = _weights(a["model"]), _weights(b["model"])
    assert wa.keys() == wb.keys()
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k
    c = train(_cfg(tmp_path, "c", seed=4, **kw), data=DATA, log=lambda *a: None)
    assert not all(np.array_equal(wa[k], v) for k, v in _weights(c["model"]).items())


@pytest.mark.parametrize("model,stop_at", [("mlp", (0, 7)), ("mlp", (1, 0)), ("cnn", (1, 12))])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path, model, stop_at):
    """(1, 0): stopped at the end of epoch 1; the CNN's dropout checks the random state."""
    full = train(_cfg(tmp_path, "full", model=model), data=DATA, log=lambda *a: None)

    def ctrl_c(epoch, step):  # a real SIGINT, as Ctrl-C sends
        if (epoch, step) == stop_at or (stop_at[1] == 0 and (epoch, step) == (stop_at[0] - 1, 18)):
            os.kill(os.getpid(), signal.SIGINT)

    cfg = _cfg(tmp_path, "cut", model=model)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(cfg, data=DATA, log=lambda *a: None, on_step=ctrl_c)
    resumed = train(cfg, resume=stopped.value.path, data=DATA, log=lambda *a: None)
    wf, wr = _weights(full["model"]), _weights(resumed["model"])
    for k in wf:
        assert np.array_equal(wf[k], wr[k]), k
    assert [h["val_loss"] for h in full["history"]] == [h["val_loss"] for h in resumed["history"]]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    result = train(_cfg(tmp_path, "mlp", epochs=1), data=DATA, log=lambda *a: None)
    state = cr.load(result["checkpoint"])
    cnn = cr.training.build_model("cnn") if hasattr(cr, "training") else None
    from chainrule.training.models import build_model
    with pytest.raises((RuntimeError, KeyError, ValueError), match="Missing key|missing|Unexpected"):
        build_model("cnn").load_state_dict(state["model"])
    state["config"]["model"] = "cnn"  # a checkpoint that claims the wrong architecture
    cr.save(state, tmp_path / "liar.npz")
    with pytest.raises((RuntimeError, KeyError, ValueError)):
        load_checkpoint(tmp_path / "liar.npz")
    del cnn


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    result = train(_cfg(tmp_path, "t", epochs=1), data=DATA, log=lambda *a: None)
    blob = result["checkpoint"].read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(Exception) as err:
        load_checkpoint(tmp_path / "cut.npz")
    assert "cut.npz" in str(err.value)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_help_lists_every_command():
    out = _cli("--help")
    assert out.returncode == 0
    for cmd in ("train", "evaluate", "predict", "demo"):
        assert cmd in out.stdout
    out = _cli("train", "--help")
    for opt in ("--dataset", "--model", "--epochs", "--batch-size", "--lr", "--optimizer", "--seed",
                "--data-dir", "--out", "--resume"):
        assert opt in out.stdout


def test_missing_data_folder_names_where_it_looked(tmp_path):
    out = _cli("train", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
               "--no-progress")
    assert out.returncode == 1
    assert "nowhere" in out.stderr and "CHAINRULE_DATA" in out.stderr


def test_evaluate_and_predict_from_a_checkpoint(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    from chainrule.cli import load_digit
    result = train(_cfg(tmp_path, "e", epochs=2), data=DATA, log=lambda *a: None)
    # an image of class 3 drawn like the generated data: bright band at rows 10-12
    img = np.zeros((28, 28), np.uint8)
    img[10:13, 4:24] = 255
    Image.fromarray(img).save(tmp_path / "three.png")
    x = load_digit(tmp_path / "three.png")
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and 0.99 < x.max() <= 1.0
    out = _cli("predict", "--checkpoint", str(result["checkpoint"]), str(tmp_path / "three.png"))
    assert out.returncode == 0, out.stderr
    assert "three.png:" in out.stdout and "probability" in out.stdout


def test_resuming_from_an_end_of_epoch_checkpoint_continues_the_shuffle_order(tmp_path):
    full = train(_cfg(tmp_path, "full", epochs=3), data=DATA, log=lambda *a: None)
    saved = tmp_path / "after-epoch-1.npz"

    def keep_copy(epoch, step):  # during epoch 2 the file holds the end-of-epoch-1 checkpoint
        if (epoch, step) == (1, 1):
            shutil.copy(tmp_path / "copy" / "checkpoint.npz", saved)

    train(_cfg(tmp_path, "copy", epochs=3), data=DATA, log=lambda *a: None, on_step=keep_copy)
    cfg = _cfg(tmp_path, "resumed", epochs=None)  # None: the checkpoint's own 3 epochs
    resumed = train(cfg, resume=saved, data=DATA, log=lambda *a: None)
    assert len(resumed["history"]) == 3
    wf, wr = _weights(full["model"]), _weights(resumed["model"])
    for k in wf:
        assert np.array_equal(wf[k], wr[k]), k
