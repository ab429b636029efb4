"""chainrule.utils.tensorboard.SummaryWriter: events written by chainrule, read back with
TensorBoard's own reader (EventAccumulator), checked value by value, and compared with what
torch.utils.tensorboard writes for the same calls."""

from __future__ import annotations

import importlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import numpy as np
import pytest

import chainrule as cr

pytest.importorskip("tensorboardX")
pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2  # noqa: E402

from chainrule.utils.tensorboard import SummaryWriter  # noqa: E402

KINDS = ("scalars", "histograms", "images", "tensors", "compressedHistograms", "audio")


def read(folder) -> EventAccumulator:
    """Everything TensorBoard sees in one run folder (its files, not its sub-folders)."""
    ea = EventAccumulator(str(folder), size_guidance={k: 0 for k in KINDS})
    ea.Reload()
    return ea


def scalars(folder, tag) -> list[tuple[int, float]]:
    ea = read(folder)
    if tag not in ea.Tags()["scalars"]:
        return []
    return [(e.step, e.value) for e in ea.Scalars(tag)]


def plugin_content(ea: EventAccumulator, plugin: str) -> dict[str, bytes]:
    try:
        return ea.PluginTagToContent(plugin)
    except KeyError:  # no tag of that plugin in the run
        return {}


def pixels(encoded: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def hparams_plugin(folder) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
            for tag, content in plugin_content(read(folder), "hparams").items()}


# ---- scalars ---------------------------------------------------------------------------------

def test_add_scalar_takes_tensors_arrays_and_numbers(tmp_path):
    values = [cr.tensor(0.25, requires_grad=True) * 2, np.float32(1.5), np.array([[2.0]]), 3,
              cr.tensor([4.0], dtype=cr.float64), 1e-30, np.float64(-7.125)]
    with SummaryWriter(tmp_path) as w:
        for step, v in enumerate(values):
            w.add_scalar("loss/train", v, step * 10)
    # simple_value is a float32 field: compare with the float32 of each value
    assert scalars(tmp_path, "loss/train") == [
        (10 * i, float(np.float32(v))) for i, v in
        enumerate([0.5, 1.5, 2.0, 3.0, 4.0, 1e-30, -7.125])]


def test_add_scalar_walltime_and_new_style(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("old", 0.1, 1, walltime=1000.5)
        w.add_scalar("new32", 0.1, 2, new_style=True)
        w.add_scalar("new64", 0.1, 3, new_style=True, double_precision=True)
    ea = read(tmp_path)
    assert ea.Scalars("old")[0].wall_time == 1000.5
    (e32,), (e64,) = ea.Tensors("new32"), ea.Tensors("new64")
    assert (e32.step, list(e32.tensor_proto.float_val)) == (2, [pytest.approx(0.1, rel=1e-7)])
    assert e32.tensor_proto.float_val[0] != 0.1            # float32
    assert (e64.step, list(e64.tensor_proto.double_val)) == (3, [0.1])  # float64, exact
    assert ea.SummaryMetadata("new64").plugin_data.plugin_name == "scalars"


def test_add_scalar_refuses_more_than_one_number(tmp_path):
    with SummaryWriter(tmp_path) as w, pytest.raises(ValueError, match=r"'acc'.*\(2, 3\)"):
        w.add_scalar("acc", np.zeros((2, 3)), 0)


def test_add_scalars_writes_one_run_per_key_named_as_torch(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("loss/both", {"train": 1.0 / (step + 1), "val": cr.tensor(2.0 + step)},
                          step)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["loss_both_train", "loss_both_val"] + [f for f in os.listdir(tmp_path)
                                                if f.startswith("events.")])
    assert scalars(tmp_path / "loss_both_train", "loss/both") == [
        (0, 1.0), (1, 0.5), (2, float(np.float32(1 / 3)))]
    assert scalars(tmp_path / "loss_both_val", "loss/both") == [(0, 2.0), (1, 3.0), (2, 4.0)]
    assert read(tmp_path).Tags()["scalars"] == []   # nothing in the main run


# ---- histograms ------------------------------------------------------------------------------

@pytest.mark.parametrize("bins", ["tensorflow", "auto", 7, [-3.0, -1.0, 0.0, 0.5, 4.0]])
def test_add_histogram_statistics_and_counts(tmp_path, bins):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 25))
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("weights/fc1", cr.tensor(values, requires_grad=True), 4, bins=bins)
    (event,) = read(tmp_path).Histograms("weights/fc1")
    h = event.histogram_value
    assert event.step == 4
    assert (h.min, h.max, h.num) == (values.min(), values.max(), values.size)
    assert h.sum == pytest.approx(values.sum(), rel=1e-12)
    assert h.sum_squares == pytest.approx((values ** 2).sum(), rel=1e-12)
    flat = values.ravel()
    ref_counts, ref_edges = np.histogram(flat, w.default_bins if bins == "tensorflow" else bins)
    assert sum(h.bucket) == ref_counts.sum()     # the values inside the edges
    assert ref_counts.sum() == (values.size if not isinstance(bins, list) else
                                ((flat >= bins[0]) & (flat <= bins[-1])).sum())
    # each bucket holds the values up to its limit, above the previous one
    edges = np.asarray(h.bucket_limit)
    counts = np.asarray(h.bucket)
    for i in range(1, len(edges)):
        inside = (flat > edges[i - 1]) & (flat <= edges[i]) if i < len(edges) - 1 else \
            (flat >= edges[i - 1]) & (flat <= edges[i])
        if bins == "tensorflow":  # no value sits on an edge: the rule of the ends does not matter
            assert counts[i] == inside.sum()
    if bins == "tensorflow":
        assert np.all(np.isin(edges, w.default_bins))
    else:  # NumPy's own histogram over the same edges
        first = int(np.searchsorted(ref_edges, edges[0]))
        np.testing.assert_array_equal(edges, ref_edges[first:first + len(edges)])
        np.testing.assert_array_equal(counts[1:], ref_counts[first:first + len(edges) - 1])


def test_default_bins_are_tensorflows(tmp_path):
    with SummaryWriter(tmp_path) as w:
        bins = np.asarray(w.default_bins)
    half = len(bins) // 2
    positive = 1e-12 * 1.1 ** np.arange(half)            # 1e-12 · 1.1^k, the last below 1e20
    np.testing.assert_allclose(bins[half + 1:], positive, rtol=1e-9)
    np.testing.assert_array_equal(bins[:half], -bins[half + 1:][::-1])
    assert bins[half] == 0 and bins[-1] < 1e20 <= bins[-1] * 1.1


def test_add_histogram_of_an_empty_tensor_names_it(tmp_path):
    with SummaryWriter(tmp_path) as w, pytest.raises(ValueError, match="'grads/w' has no values"):
        w.add_histogram("grads/w", cr.zeros(0, 3), 0)


def test_add_histogram_raw(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_histogram_raw("raw", min=-1.0, max=2.0, num=6, sum=3.0, sum_squares=9.0,
                            bucket_limits=[0.0, 1.0, 2.0], bucket_counts=[1, 3, 2], global_step=7)
        with pytest.raises(ValueError, match="3 bucket limits but 2 bucket counts"):
            w.add_histogram_raw("bad", 0, 1, 1, 1, 1, [0.0, 1.0, 2.0], [1, 1])
    h = read(tmp_path).Histograms("raw")[0].histogram_value
    assert (h.min, h.max, h.num, h.sum, h.sum_squares) == (-1.0, 2.0, 6, 3.0, 9.0)
    assert (list(h.bucket_limit), list(h.bucket)) == ([0.0, 1.0, 2.0], [1, 3, 2])


# ---- images and figures ----------------------------------------------------------------------

def test_add_image_layouts_decode_to_the_right_pixels(tmp_path):
    rng = np.random.default_rng(1)
    chw = rng.random((3, 5, 7))
    hwc_uint8 = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    hw = np.array([[0.0, 0.5], [1.0, 0.25]])
    outside = np.array([[-0.5, 1.7, 0.2]])                # clipped to 0 and 255, as torch
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", cr.tensor(chw, dtype=cr.float64), 1)
        w.add_image("hwc", hwc_uint8, 2, dataformats="HWC")
        w.add_image("hw", hw, 3, dataformats="HW")
        w.add_image("clip", outside, 4, dataformats="HW")
        w.add_image("one_channel", hw[None], 5)          # (1, H, W): grey in 3 channels
    ea = read(tmp_path)
    expected = {"chw": (chw.transpose(1, 2, 0) * 255).astype(np.uint8),
                "hwc": hwc_uint8,
                "hw": np.repeat((hw * 255).astype(np.uint8)[:, :, None], 3, axis=2),
                "clip": np.repeat(np.array([[0, 255, 51]], np.uint8)[:, :, None], 3, axis=2)}
    expected["one_channel"] = expected["hw"]
    for step, (tag, want) in enumerate(expected.items(), start=1):
        (event,) = ea.Images(tag)
        assert (event.step, event.height, event.width) == (step, *want.shape[:2])
        np.testing.assert_array_equal(pixels(event.encoded_image_string), want)


def test_add_images_makes_a_grid_of_eight_per_row(tmp_path):
    batch = np.stack([np.full((1, 2, 3), i * 20, np.uint8) for i in range(10)])  # N1HW
    with SummaryWriter(tmp_path) as w:
        w.add_images("batch", batch, 0)
    (event,) = read(tmp_path).Images("batch")
    grid = pixels(event.encoded_image_string)
    assert grid.shape == (4, 24, 3)                 # 2 rows of 8 images of 2 x 3
    assert grid[0, 0, 0] == 0 and grid[0, 3 * 7, 0] == 140 and grid[2, 3, 1] == 180
    assert np.all(grid[2:, 6:] == 0)                # the rest of the second row is empty


def test_add_image_errors_name_the_layout(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"'HWC' names 3 dimensions .* shape \(4, 5\)"):
            w.add_image("x", np.zeros((4, 5)), 0, dataformats="HWC")
        with pytest.raises(ValueError, match="'x' has 2 channels"):
            w.add_image("x", np.zeros((2, 4, 5)), 0)
        with pytest.raises(ValueError, match="at most once"):
            w.add_image("x", np.zeros((4, 5, 6)), 0, dataformats="HHW")


def test_add_figure_renders_the_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(2, 1), dpi=40, facecolor=(1.0, 0.0, 0.0))
    with SummaryWriter(tmp_path) as w:
        w.add_figure("confusion", fig, 9)
        assert not plt.fignum_exists(fig.number)          # closed, as torch's close=True
        keep = plt.figure(figsize=(1, 1), dpi=30, facecolor=(0.0, 0.0, 1.0))
        w.add_figure("pair", [keep, keep], 1, close=False)
        assert plt.fignum_exists(keep.number)
        plt.close(keep)
    ea = read(tmp_path)
    (event,) = ea.Images("confusion")
    img = pixels(event.encoded_image_string)
    assert event.step == 9 and img.shape == (40, 80, 3)
    assert np.all(img == [255, 0, 0])
    pair = pixels(ea.Images("pair")[0].encoded_image_string)
    assert pair.shape == (30, 60, 3) and np.all(pair == [0, 0, 255])


# ---- text and hparams ------------------------------------------------------------------------

def test_add_text(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "lr **0.1**, naïve", 5)
        w.add_text("notes", "second", 6)
    ea = read(tmp_path)
    events = ea.Tensors("notes/text_summary")
    assert [(e.step, e.tensor_proto.string_val[0].decode()) for e in events] == [
        (5, "lr **0.1**, naïve"), (6, "second")]
    assert ea.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"


def test_add_hparams_writes_the_plugin_data_into_a_sub_run(tmp_path):
    hp = {"lr": 0.01, "batch_size": 64, "optimizer": "adam", "nesterov": True, "momentum": None,
          "wd": cr.tensor(5e-4, dtype=cr.float64)}
    with SummaryWriter(tmp_path) as w:
        w.add_hparams(hp, {"hparam/accuracy": 0.93, "hparam/loss": cr.tensor(0.25)},
                      hparam_domain_discrete={"optimizer": ["adam", "sgd"],
                                              "batch_size": [32, 64]},
                      run_name="trial1", global_step=3)
    sub = tmp_path / "trial1"
    data = hparams_plugin(sub)
    assert set(data) == {"_hparams_/experiment", "_hparams_/session_start_info",
                         "_hparams_/session_end_info"}
    exp = data["_hparams_/experiment"].experiment
    types = {i.name: api_pb2.DataType.Name(i.type) for i in exp.hparam_infos}
    assert types == {"lr": "DATA_TYPE_FLOAT64", "batch_size": "DATA_TYPE_FLOAT64",
                     "optimizer": "DATA_TYPE_STRING", "nesterov": "DATA_TYPE_BOOL",
                     "wd": "DATA_TYPE_FLOAT64"}           # None is left out, as in torch
    domains = {i.name: [v for v in i.domain_discrete.values] for i in exp.hparam_infos
               if i.HasField("domain_discrete")}
    assert [v.string_value for v in domains["optimizer"]] == ["adam", "sgd"]
    assert [v.number_value for v in domains["batch_size"]] == [32.0, 64.0]
    assert [m.name.tag for m in exp.metric_infos] == ["hparam/accuracy", "hparam/loss"]
    start = data["_hparams_/session_start_info"].session_start_info.hparams
    assert start["lr"].number_value == 0.01 and start["batch_size"].number_value == 64
    assert start["optimizer"].string_value == "adam" and start["nesterov"].bool_value is True
    assert start["wd"].number_value == 5e-4 and "momentum" not in start
    assert data["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS
    assert scalars(sub, "hparam/accuracy") == [(3, float(np.float32(0.93)))]
    assert scalars(sub, "hparam/loss") == [(3, 0.25)]
    assert plugin_content(read(tmp_path), "hparams") == {}   # not in the main run


def test_add_hparams_default_run_name_is_the_time(tmp_path):
    before = time.time()
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.1}, {"hparam/acc": 1.0})
    (sub,) = [d for d in os.listdir(tmp_path) if (tmp_path / d).is_dir()]
    assert before <= float(sub) <= time.time()


def test_add_hparams_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(TypeError, match="should be dictionaries; got list and dict"):
            w.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="'layers' is a list"):
            w.add_hparams({"layers": [1, 2]}, {})
        with pytest.raises(TypeError, match=r"hparam_domain_discrete\['lr'\]"):
            w.add_hparams({"lr": 0.1}, {}, hparam_domain_discrete={"lr": ["fast"]})
        with pytest.raises(ValueError, match=r"'w' is a tensor of shape \(2,\)"):
            w.add_hparams({"w": cr.tensor([1.0, 2.0])}, {})


# ---- the writer: folders, files, flushing ----------------------------------------------------

def test_default_log_dir_is_runs_date_host_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as w:
        log_dir = w.get_logdir()
    host = re.escape(socket.gethostname())
    stamp = r"(\w{3}\d{2}_\d{2}-\d{2}-\d{2})"
    m = re.fullmatch(rf"runs{re.escape(os.sep)}{stamp}_{host}_lr0\.1", log_dir)
    assert m, log_dir
    stamp = datetime.strptime(m[1], "%b%d_%H-%M-%S").replace(year=datetime.now().year)
    assert abs(datetime.now() - stamp) < timedelta(minutes=1)
    assert os.listdir(log_dir)[0].startswith("events.out.tfevents.")
    with SummaryWriter("given", comment="ignored") as w:   # comment only joins the default
        assert w.get_logdir() == "given"
    with SummaryWriter(tmp_path / "path") as w:            # a Path is kept as given
        assert w.get_logdir() == tmp_path / "path"


def test_flush_makes_events_readable_before_close(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=1000, flush_secs=1000)
    for step in range(5):
        w.add_scalar("x", step * 1.5, step)
    w.flush()
    assert scalars(tmp_path, "x") == [(s, s * 1.5) for s in range(5)]
    w.close()
    w.close()  # twice is fine


def test_flush_secs_writes_without_flush(tmp_path):
    w = SummaryWriter(tmp_path, flush_secs=0.05)
    w.add_scalar("y", 1.0, 0)
    deadline = time.time() + 10   # the timer flushes within 0.05 s; a busy machine may be slow
    while not scalars(tmp_path, "y") and time.time() < deadline:
        time.sleep(0.05)
    assert scalars(tmp_path, "y") == [(0, 1.0)]
    w.close()


def test_reopened_writer_keeps_its_earlier_file(tmp_path):
    w = SummaryWriter(tmp_path)
    w.add_scalar("x", 1.0, 0)
    w.close()
    w.add_scalar("x", 2.0, 1)   # a new file in the same folder, within the same second
    w.close()
    assert len(os.listdir(tmp_path)) == 2
    assert scalars(tmp_path, "x") == [(0, 1.0), (1, 2.0)]


def test_filename_suffix_and_purge_step(tmp_path):
    with SummaryWriter(tmp_path, filename_suffix=".first") as w:
        for step in range(10):
            w.add_scalar("loss", float(step), step)
    time.sleep(1.01)  # TensorBoard orders files by the time in their names
    with SummaryWriter(tmp_path, purge_step=6) as w:   # a resumed run, from step 6
        for step in range(6, 8):
            w.add_scalar("loss", 100.0 + step, step)
    assert sum(f.endswith(".first") for f in os.listdir(tmp_path)) == 1
    assert scalars(tmp_path, "loss") == [(s, float(s)) for s in range(6)] + [(6, 106.0),
                                                                               (7, 107.0)]


def test_closed_writer_reopens_and_context_manager_closes(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("a", 1.0, 0)
    assert w.all_writers is None and w.file_writer is None
    w.add_text("b", "again", 1)
    w.close()
    assert read(tmp_path).Tags()["tensors"] == ["b/text_summary"]


def test_close_stops_the_flush_threads(tmp_path):
    def flushers():
        return [t for t in threading.enumerate() if t.name.startswith("tensorboard-flush")]
    before = len(flushers())
    w = SummaryWriter(tmp_path)
    w.add_scalars("acc", {"train": 1.0, "val": 2.0}, 0)
    assert len(flushers()) == before + 3          # one per file, as torch's writers
    w.close()
    for t in flushers():
        t.join(timeout=10)
    assert len(flushers()) == before


# ---- the same calls through torch.utils.tensorboard ------------------------------------------

def _log_everything(w, to_tensor, plt):
    rng = np.random.default_rng(3)
    w.add_scalar("loss", to_tensor(np.array(0.75)), 1)
    w.add_scalar("loss", 0.5, 2, walltime=12345.0)
    w.add_scalar("new", 0.3, 2, new_style=True, double_precision=True)
    w.add_scalars("acc/split", {"train": 0.8, "val": to_tensor(np.array(0.7))}, 2)
    w.add_histogram("weights", to_tensor(rng.normal(size=500)), 2)
    w.add_histogram("weights_fd", to_tensor(rng.normal(size=300)), 2, bins="fd")
    w.add_histogram("weights_max", to_tensor(rng.normal(size=300)), 2, bins=50, max_bins=8)
    w.add_image("img", to_tensor(rng.random((3, 6, 5))), 2)
    w.add_image("img_hwc", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), 2, dataformats="HWC")
    w.add_images("imgs", to_tensor(rng.random((3, 1, 4, 4))), 2)
    fig = plt.figure(figsize=(1.5, 1), dpi=50)
    plt.plot([0, 1], [1, 0])
    w.add_figure("fig", fig, 2)
    w.add_text("text", "hello *world*", 2)
    w.add_hparams({"lr": 0.1, "opt": "sgd", "layers": 3, "skip": None},
                  {"hparam/acc": 0.9}, hparam_domain_discrete={"opt": ["sgd", "adam"]},
                  run_name="hp", global_step=2)


def _everything(folder) -> dict:
    """Per run folder (relative), per tag: what TensorBoard shows."""
    out = {}
    for root, _, files in os.walk(folder):
        if not any(f.startswith("events.") for f in files):
            continue
        ea = read(root)
        tags = ea.Tags()
        run = {}
        for tag in tags["scalars"]:
            run[tag] = [(e.step, e.value) for e in ea.Scalars(tag)]
        for tag in tags["histograms"]:
            run[tag] = [(e.step, str(e.histogram_value)) for e in ea.Histograms(tag)]
        for tag in tags["images"]:
            run[tag] = [(e.step, e.height, e.width, pixels(e.encoded_image_string).tobytes())
                        for e in ea.Images(tag)]
        for tag in tags["tensors"]:
            run[tag] = [(e.step, str(e.tensor_proto)) for e in ea.Tensors(tag)]
        for tag, content in plugin_content(ea, "hparams").items():
            run[tag] = str(plugin_data_pb2.HParamsPluginData.FromString(content))
        out[os.path.relpath(root, folder)] = run
    return out


def test_same_calls_give_the_same_events_as_torch(tmp_path):
    torch = pytest.importorskip("torch")
    tb = pytest.importorskip("torch.utils.tensorboard")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with SummaryWriter(tmp_path / "cr") as w:
        _log_everything(w, lambda a: cr.tensor(a, dtype=cr.float64), plt)
    with tb.SummaryWriter(str(tmp_path / "torch")) as w:
        _log_everything(w, lambda a: torch.tensor(a, dtype=torch.float64), plt)
    ours, theirs = _everything(tmp_path / "cr"), _everything(tmp_path / "torch")
    assert sorted(ours) == sorted(theirs) == [".", "acc_split_train", "acc_split_val", "hp"]
    for run in theirs:
        assert sorted(ours[run]) == sorted(theirs[run]), run
        for tag in theirs[run]:
            assert ours[run][tag] == theirs[run][tag], (run, tag)
    assert read(tmp_path / "cr").Scalars("loss")[1].wall_time == 12345.0


# ---- the extra -------------------------------------------------------------------------------

def test_without_tensorboardx_the_import_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "chainrule.utils.tensorboard" or name.startswith("chainrule.utils.tensorboard."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)   # as if not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'chainrule[tensorboard]'")):
        importlib.import_module("chainrule.utils.tensorboard")
    with pytest.raises(ImportError, match="needs tensorboardX"):
        cr.utils.__getattr__("tensorboard")


def test_import_chainrule_does_not_import_tensorboardx():
    code = ("import sys, chainrule as cr, chainrule.utils\n"
            "assert 'tensorboardX' not in sys.modules and 'tensorboard' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
