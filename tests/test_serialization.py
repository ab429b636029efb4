"""save/load: round trips, no pickle, atomic writes, and clear errors on bad files."""

import json
import math
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

import chainrule as cr
import chainrule.serialization as serialization


def checkpoint():
    w = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), dtype=cr.float32)
    b = cr.tensor(np.array([0.5, -1.5]), dtype=cr.float64)
    return {
        "model": {"fc.weight": w, "fc.bias": b},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.full((2, 3), 0.25, np.float32)},
                      1: {"step": 3, "exp_avg": np.zeros(2)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False,
                              "weight_decay": 0, "params": [0, 1], "name": None}],
        },  # fmt: skip
        "epoch": 7,
        "loss": 0.125,
        "note": "after epoch 7",
        "ints": np.arange(4, dtype=np.int64),
        "mask": np.array([True, False]),
        "half": np.ones((1, 2), np.float16),
        "pixels": np.zeros((0, 28), np.uint8),
        "rng": cr.Generator(5).get_state(),
        "count": np.int32(9),
        "specials": [math.inf, -0.0, 10**30, ""],
        "nested": [(1, [2, (3,)]), {}],
    }


def test_round_trip_values_types_and_dtypes(tmp_path):
    path = tmp_path / "ckpt.npz"
    original = checkpoint()
    cr.save(original, path)
    loaded = cr.load(path)
    assert list(loaded) == list(original)  # key order kept
    w, b = loaded["model"]["fc.weight"], loaded["model"]["fc.bias"]
    assert isinstance(w, cr.Tensor) and w.dtype == np.float32 and w.shape == (2, 3)
    assert b.dtype == np.float64 and b.data.tolist() == [0.5, -1.5]
    np.testing.assert_array_equal(w.data, np.arange(6).reshape(2, 3))
    state = loaded["optimizer"]["state"]
    assert list(state) == [0, 1] and all(type(k) is int for k in state)
    assert state[0]["step"] == 3 and type(state[0]["step"]) is int
    assert type(state[0]["exp_avg"]) is np.ndarray and state[0]["exp_avg"].dtype == np.float32
    group = loaded["optimizer"]["param_groups"][0]
    assert group == {"lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False, "weight_decay": 0,
                     "params": [0, 1], "name": None}  # fmt: skip
    assert type(group["betas"]) is tuple and type(group["weight_decay"]) is int
    assert (loaded["epoch"], loaded["loss"], loaded["note"]) == (7, 0.125, "after epoch 7")
    for key in ["ints", "mask", "half", "pixels"]:
        assert type(loaded[key]) is np.ndarray and loaded[key].dtype == original[key].dtype
        np.testing.assert_array_equal(loaded[key], original[key])
    assert type(loaded["count"]) is np.int32 and loaded["count"] == 9
    assert loaded["specials"][0] == math.inf and math.copysign(1, loaded["specials"][1]) == -1
    assert loaded["specials"][2:] == [10**30, ""]
    assert loaded["nested"] == [(1, [2, (3,)]), {}] and type(loaded["nested"][0][1][1]) is tuple
    g = cr.Generator()
    g.set_state(loaded["rng"])
    assert g.numpy.random() == cr.Generator(5).numpy.random()


def test_nan_and_bare_objects(tmp_path):
    for obj in [None, 3, "x", [], np.float64("nan")]:
        cr.save(obj, tmp_path / "x")
        back = cr.load(tmp_path / "x")
        assert back == obj or (np.isnan(obj) and np.isnan(back))


def test_tensor_saved_once_when_shared(tmp_path):
    w = cr.tensor(np.ones(3), dtype=cr.float64)
    cr.save({"encoder": w, "decoder": w}, tmp_path / "tied")
    with np.load(tmp_path / "tied", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["a0", "manifest"]
    loaded = cr.load(tmp_path / "tied")
    assert loaded["encoder"] is loaded["decoder"]


def test_requires_grad_round_trips(tmp_path):
    p = cr.tensor(np.ones(2, np.float32), dtype=cr.float32, requires_grad=True)
    cr.save([p, cr.tensor(np.zeros(2))], tmp_path / "p")
    q, r = cr.load(tmp_path / "p")
    assert q.requires_grad and not r.requires_grad and q.dtype == np.float32


def test_file_is_plain_npz_without_pickle(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"  # any name: nothing is appended
    for name in ["dump", "dumps", "load", "loads"]:
        monkeypatch.setattr(pickle, name, lambda *a, **k: pytest.fail("pickle was used"))
    cr.save(checkpoint(), path)
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]
    with np.load(path, allow_pickle=False) as npz:
        manifest = json.loads(npz["manifest"].tobytes())
        assert all(npz[name].dtype != object for name in npz.files)
    assert manifest["format"] == "chainrule" and manifest["version"] == 1
    assert cr.load(path)["epoch"] == 7


def test_unsupported_objects_are_refused_with_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store set at obj\['a'\]\[1\]"):
        cr.save({"a": [1, {2}]}, tmp_path / "x")
    with pytest.raises(TypeError, match="keys must be str or int"):
        cr.save({(1, 2): 3}, tmp_path / "x")
    with pytest.raises(TypeError, match="object array"):
        cr.save({"o": np.array([None, 1])}, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_crash_before_replace_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    cr.save({"epoch": 1}, path)

    def crash(*args):
        raise OSError("power lost")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power lost"):
        cr.save({"epoch": 2}, path)
    monkeypatch.undo()
    assert cr.load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temp file left


def test_crash_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    cr.save({"w": np.arange(3)}, path)

    def half_written(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        cr.save({"w": np.arange(1000)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(cr.load(path)["w"], np.arange(3))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(f"no checkpoint at {missing}")):
        cr.load(missing)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.05])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    cr.save(checkpoint(), path)
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(ValueError, match=re.escape(f"load: {path} is not a readable")):
        cr.load(path)


def test_corrupted_member_is_detected(tmp_path):
    path = tmp_path / "ckpt.npz"
    cr.save({"w": np.zeros(1000)}, path)
    blob = bytearray(path.read_bytes())
    blob[200:210] = b"\xff" * 10  # inside a0.npy's data: the zip CRC no longer matches
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="not a readable chainrule checkpoint"):
        cr.load(path)


def test_other_files_are_not_checkpoints(tmp_path):
    cases = {
        "text.txt": b"hello",
        "pickled.pt": pickle.dumps({"w": 1}),
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    np.save(tmp_path / "single.npy", np.arange(3))
    np.savez(tmp_path / "plain.npz", w=np.arange(3))
    with zipfile.ZipFile(tmp_path / "torch.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    messages = {
        "single.npy": "not an .npz archive",
        "plain.npz": "without a chainrule manifest",
        "torch.pt": "without a chainrule manifest",
        "text.txt": "",
        "pickled.pt": "",
    }
    for name, detail in messages.items():
        match = re.escape(f"{tmp_path / name} is not a readable") + f".*{detail}"
        with pytest.raises(ValueError, match=match):
            cr.load(tmp_path / name)
