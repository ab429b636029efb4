"""``chainrule train --monitor`` and ``--tensorboard``: what they write, read back."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from chainrule.training.loop import TrainConfig, TrainingInterrupted, train
from tests.training.test_train import DATA, _cfg

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _read(folder):
    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance={k: 0 for k in event_accumulator.DEFAULT_SIZE_GUIDANCE})
    return acc.Reload()


def _scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_holds_the_runs_numbers(tmp_path):
    lines = []
    cfg = _cfg(tmp_path, "run", epochs=2, tensorboard="", plots=True)
    result = train(cfg, data=DATA, log=lines.append)
    history, steps = result["history"], 18  # 576 training images in batches of 32
    acc = _read(tmp_path / "run" / "tensorboard")
    # the epoch metrics, at the step each epoch ended, equal metrics.csv's
    for tag, key in [("loss/train", "train_loss"), ("accuracy/train", "train_acc"),
                     ("loss/validation", "val_loss"), ("accuracy/validation", "val_acc"),
                     ("lr", "lr")]:
        got = _scalars(acc, tag)
        assert [s for s, _ in got] == [steps, 2 * steps]
        np.testing.assert_allclose([v for _, v in got], [h[key] for h in history], rtol=1e-6)
    # the per-layer norms: one record in ten steps, for the three Linear layers
    tags = acc.Tags()["scalars"]
    for layer in ("1", "3", "5"):
        for key in ("grad_norm", "weight_norm", "update_ratio"):
            assert f"{key}/{layer}" in tags
    grad = _scalars(acc, "grad_norm/1")
    assert [s for s, _ in grad] == [0, 10, 20, 30]  # the steps done before the recorded one
    assert all(0 < v < 100 for _, v in grad)
    # histograms of every weight and gradient, each epoch
    hist = acc.Tags()["histograms"]
    assert {"weights/1.weight", "grads/1.weight", "weights/5.bias", "grads/5.bias"} <= set(hist)
    last = acc.Histograms("weights/5.bias")[-1]
    w = result["model"].state_dict()["5.bias"]
    assert last.step == 2 * steps and last.histogram_value.num == 10
    np.testing.assert_allclose([last.histogram_value.min, last.histogram_value.max],
                               [np.min(w), np.max(w)], rtol=1e-6)
    assert "confusion_matrix" in acc.Tags()["images"]
    assert any("tensorboard --logdir" in line for line in lines)


def test_hyperparameters_are_logged(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2
    train(_cfg(tmp_path, "hp", epochs=1, tensorboard=str(tmp_path / "tb"), lr=0.02),
          data=DATA, log=lambda *a: None)
    found = {}
    for events in (tmp_path / "tb").rglob("events.out.tfevents.*"):
        acc = _read(events.parent)
        try:
            acc.PluginTagToContent("hparams")
        except KeyError:  # this file holds no hparams
            continue
        for tag, content in acc.PluginTagToContent("hparams").items():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.HasField("session_start_info"):
                found = {k: v for k, v in data.session_start_info.hparams.items()}
    assert found["model"].string_value == "mlp"
    assert found["lr"].number_value == pytest.approx(0.02)
    assert found["batch_size"].number_value == 32


def test_an_earlier_runs_events_are_refused_then_replaced_with_overwrite(tmp_path):
    folder = tmp_path / "tb"
    train(_cfg(tmp_path, "a", epochs=1, tensorboard=str(folder)), data=DATA, log=lambda *a: None)
    old = sorted(folder.rglob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="already holds TensorBoard event files"):
        train(_cfg(tmp_path, "b", epochs=1, tensorboard=str(folder)), data=DATA,
              log=lambda *a: None)
    assert sorted(folder.rglob("events.out.tfevents.*")) == old  # untouched
    train(_cfg(tmp_path, "b", epochs=1, tensorboard=str(folder), overwrite=True), data=DATA,
          log=lambda *a: None)
    assert not any(f.exists() for f in old)


def test_a_resumed_run_goes_on_in_its_event_files(tmp_path):
    cfg = _cfg(tmp_path, "r", epochs=2, tensorboard="")

    def stop(epoch, step):
        if (epoch, step) == (1, 5):
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        train(cfg, data=DATA, log=lambda *a: None, on_step=stop)
    train(_cfg(tmp_path, "r", epochs=None, tensorboard=""), resume=str(stopped.value.path),
          data=DATA, log=lambda *a: None)
    acc = _read(tmp_path / "r" / "tensorboard")
    assert [s for s, _ in _scalars(acc, "loss/train")] == [18, 36]
    # recorded: 0, 10, 20 before Ctrl-C at 23; after the resume its first step, 23, then 30
    assert [s for s, _ in _scalars(acc, "grad_norm/1")] == [0, 10, 20, 23, 30]


def test_monitor_writes_its_plots_and_is_silent_on_a_healthy_run(tmp_path):
    lines = []
    result = train(_cfg(tmp_path, "m", epochs=1, monitor=True, plots=True), data=DATA,
                   log=lines.append)
    for name in ("gradient_flow.png", "update_ratio.png", "activations.png", "dead_units.png"):
        assert (tmp_path / "m" / name).stat().st_size > 10_000
    assert any(line.startswith("monitor: no problem seen") for line in lines), lines
    assert result["model"]._forward_hooks == {}  # the monitor removed its hooks


def test_monitor_names_the_layer_and_step_of_a_run_that_barely_learns(tmp_path):
    lines = []
    train(_cfg(tmp_path, "d", epochs=2, monitor=True, lr=1e-7), data=DATA, log=lines.append)
    said = [line for line in lines if line.startswith("monitor, step")]
    assert said and "update" in said[0] and "layer '1' (Linear)" in said[0], lines
    assert not any(line.startswith("monitor: no problem seen") for line in lines)


def test_the_command_line_flags(tmp_path):
    from chainrule.cli import _parser
    args = _parser().parse_args(["train", "--tensorboard", "--monitor"])
    assert args.tensorboard == "" and args.monitor
    args = _parser().parse_args(["train", "--tensorboard", str(tmp_path / "x")])
    assert args.tensorboard == str(tmp_path / "x")
    assert _parser().parse_args(["train"]).tensorboard is None
