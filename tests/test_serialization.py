"""save/load: round trips, no pickle, atomic writes, and clear errors on bad files."""

import io
import json
import math
import os
import pickle
import re
import stat
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import chainrule as cr
import chainrule.serialization as serialization
from chainrule._io import atomic_write_text


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


# -- hostile and corrupt files: one exception type, naming the file, nothing big allocated ----


def _npy(descr: str, shape: tuple, data: bytes, fortran: bool = False) -> bytes:
    """A ``.npy`` member with a header written by hand (it may lie about the data)."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def _manifest(root) -> bytes:
    text = json.dumps({"format": "chainrule", "version": 1, "root": root}).encode()
    return _npy("|u1", (len(text),), text)


def _zip(path, members: dict, compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, blob in members.items():
            z.writestr(name + ".npy", blob)


def _ok_array(array: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array(f, array, allow_pickle=False)
    return f.getvalue()


def _hostile(kind: str, path) -> None:
    """Write one hostile or corrupt file of the given kind to ``path``."""
    tensor = {"tensor": "a0", "requires_grad": False}
    if kind == "truncated zip":
        cr.save({"w": np.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:-40])
    elif kind == "shape larger than data":  # declares 1 GiB, holds 8 bytes
        _zip(path, {"a0": _npy("<f4", (1 << 28,), b"\0" * 8), "manifest": _manifest(tensor)})
    elif kind == "manifest larger than data":
        _zip(path, {"manifest": _npy("|u1", (1 << 30,), b"{}")})
    elif kind == "deep nesting":
        deep = b"[" * 100_000 + b"]" * 100_000
        text = b'{"format": "chainrule", "version": 1, "root": ' + deep + b"}"
        _zip(path, {"manifest": _npy("|u1", (len(text),), text)})
    elif kind == "deep nodes":  # valid JSON, nested {"list": [...]} nodes
        deep = b'{"list": [' * 5000 + b"null" + b"]}" * 5000
        text = b'{"format": "chainrule", "version": 1, "root": ' + deep + b"}"
        _zip(path, {"manifest": _npy("|u1", (len(text),), text)})
    elif kind == "wrong dtype string":
        _zip(path, {"a0": _npy("<f3", (2,), b"\0" * 6), "manifest": _manifest(tensor)})
    elif kind == "string tensor":
        _zip(path, {"a0": _ok_array(np.array(["ab", "c"])), "manifest": _manifest(tensor)})
    elif kind == "int tensor requiring grad":
        node = {"tensor": "a0", "requires_grad": True}
        _zip(path, {"a0": _ok_array(np.arange(3)), "manifest": _manifest(node)})
    elif kind == "object array":
        _zip(path, {"a0": _npy("|O", (1,), pickle.dumps([1])), "manifest": _manifest(tensor)})
    elif kind == "zip bomb":  # 64 MiB of zeros deflated to ~64 KiB
        _zip(path, {"a0": _ok_array(np.zeros(1 << 24, np.float32)),
                    "manifest": _manifest(tensor)}, zipfile.ZIP_DEFLATED)
    elif kind == "declared size beyond the file":
        cr.save({"w": np.zeros(100)}, path)
        blob = bytearray(path.read_bytes())
        for sig in (b"PK\x01\x02", b"PK\x03\x04"):  # both headers: sizes say 1 GiB
            at = blob.index(sig)
            off = 20 if sig == b"PK\x01\x02" else 18
            blob[at + off : at + off + 8] = (1 << 30).to_bytes(4, "little") * 2
        path.write_bytes(bytes(blob))
    elif kind == "bad node types":
        _zip(path, {"manifest": _manifest({"dict": [[{"unhashable": 1}, 2]]})})
    elif kind == "missing array":
        _zip(path, {"manifest": _manifest({"tensor": "a7"})})
    elif kind == "manifest not utf-8":
        _zip(path, {"manifest": _npy("|u1", (2,), b"\xff\xfe")})
    elif kind == "non-zip":
        path.write_bytes(np.random.default_rng(0).bytes(1000))
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    else:
        raise AssertionError(kind)


HOSTILE = ["truncated zip", "shape larger than data", "manifest larger than data",
           "deep nesting", "deep nodes", "wrong dtype string", "string tensor",
           "int tensor requiring grad", "object array", "zip bomb",
           "declared size beyond the file", "bad node types", "missing array",
           "manifest not utf-8", "non-zip", "empty file", "directory"]  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_files_raise_load_error_naming_the_file(tmp_path, kind):
    path = tmp_path / "ckpt.npz"
    _hostile(kind, path)
    tracemalloc.start()
    try:
        with pytest.raises(serialization.LoadError) as info:
            cr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"load: {path} is not a readable chainrule checkpoint" in str(info.value)
    # nothing is allocated beyond what the file holds (the zip bomb's 64 MiB included)
    assert peak < 4 * max(path.stat().st_size, 1 << 20), peak


def test_load_error_is_what_pytorch_and_value_error_habits_catch(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"not a checkpoint")
    for kind in (pickle.UnpicklingError, ValueError):
        with pytest.raises(kind):
            cr.load(path)


# -- files: leftovers of killed saves are removed, permissions follow the umask -------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_save_removes_leftovers_of_killed_saves_but_not_a_live_writers(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".ckpt.npz.{_dead_pid()}.k2j4h5g6.tmp.npz",  # a save killed mid-write
            "old": ".ckpt.npz.a1b2c3d4.tmp",  # an older chainrule's name, from before this process
            "live": f".ckpt.npz.{live.pid}.z9y8x7w6.tmp.npz",  # a concurrent writer's
            "other": f".other.npz.{_dead_pid()}.k2j4h5g6.tmp.npz",  # another file's
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"PK\x03\x04" + b"\0" * 1000)
        os.utime(tmp_path / names["old"], (1e9, 1e9))
        cr.save({"epoch": 1}, tmp_path / "ckpt.npz")
        assert sorted(os.listdir(tmp_path)) == sorted(
            ["ckpt.npz", names["live"], names["other"]])
        atomic_write_text(tmp_path / "other.npz", "x")  # the same for any file
        assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.npz", "other.npz", names["live"]])
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        cr.save({"epoch": 1}, tmp_path / "ckpt.npz")
        atomic_write_text(tmp_path / "metrics.csv", "epoch\n1\n")
        (tmp_path / "plain").write_text("as open() makes it")
    finally:
        os.umask(old)
    for name in ["ckpt.npz", "metrics.csv", "plain"]:
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask, name


def test_load_takes_pytorchs_keyword_arguments(tmp_path):
    # torch.load(path, map_location=device, weights_only=True) is what PyTorch code types now
    torch = pytest.importorskip("torch")
    tensor = np.arange(3.0)
    path = tmp_path / "ck.pt"
    torch.save({"w": torch.from_numpy(tensor)}, path)
    expected = torch.load(path, map_location="cpu", weights_only=True, mmap=False)["w"].numpy()
    cr.save({"w": cr.from_numpy(tensor)}, path)
    for kwargs in ({"weights_only": True}, {"weights_only": False},
                   {"map_location": "cpu", "weights_only": True, "mmap": False}):
        np.testing.assert_array_equal(cr.load(path, **kwargs)["w"].numpy(), expected)
