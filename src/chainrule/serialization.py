"""save/load: checkpoints as NumPy ``.npz`` files that never need pickle.

The file holds one array per Tensor / ndarray / NumPy scalar, named ``a0``, ``a1``, ..., and a
JSON manifest (as a uint8 array named ``manifest``) that describes the structure. JSON nodes:
``None``, bools, ints, floats and strings stand for themselves; every other node is a one-key
object: ``{"dict": [[key, node], ...]}`` (keys str or int, order kept), ``{"list": [...]}``,
``{"tuple": [...]}``, ``{"tensor": name, "requires_grad": bool}``, ``{"ndarray": name}``,
``{"scalar": name}``. Loading reads arrays with ``allow_pickle=False`` and parses JSON, so a
checkpoint can never run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr

FORMAT, VERSION = "chainrule", 1
MANIFEST = "manifest"


def _encode(obj: Any, arrays: dict[str, np.ndarray], names: dict[int, str], where: str) -> Any:
    """The JSON node for ``obj``; its arrays go into ``arrays`` (once per object, by id)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, np.integer):
                key = int(key)
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} in {where}")
            items.append([key, _encode(value, arrays, names, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {kind: [_encode(v, arrays, names, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, cr.Tensor):
        kind, array = "tensor", obj._data
    elif isinstance(obj, np.ndarray):
        kind, array = "ndarray", obj
    elif isinstance(obj, np.generic):
        kind, array = "scalar", np.asarray(obj)
    else:
        raise TypeError(
            f"save: cannot store {type(obj).__name__} at {where}; supported are dicts, lists, "
            f"tuples, Tensors, NumPy arrays and scalars, numbers, bools, strings and None"
        )
    if array.dtype.hasobject:
        raise TypeError(f"save: cannot store an object array at {where} (it would need pickle)")
    if id(obj) not in names:  # the same Tensor twice (tied weights) is stored once
        names[id(obj)] = f"a{len(arrays)}"
        arrays[names[id(obj)]] = array
    node = {kind: names[id(obj)]}
    if kind == "tensor":
        node["requires_grad"] = bool(getattr(obj, "requires_grad", False))
    return node


def _decode(node: Any, arrays: dict[str, np.ndarray], made: dict[str, Any]) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise ValueError(f"unexpected manifest node {node!r}")
    if "dict" in node:
        return {key: _decode(value, arrays, made) for key, value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, made) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, made) for v in node["tuple"])
    kind = next((k for k in ("tensor", "ndarray", "scalar") if k in node), None)
    if kind is None:
        raise ValueError(f"unexpected manifest node {node!r}")
    name = node[kind]
    if name not in made:
        array = arrays[name]
        if kind == "tensor":
            rg = node.get("requires_grad", False)
            made[name] = (cr.tensor(array, dtype=array.dtype, requires_grad=True) if rg
                          else cr.from_numpy(array))  # fmt: skip
        elif kind == "ndarray":
            made[name] = array
        else:
            made[name] = array[()]
    return made[name]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible everywhere (Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a state_dict, an optimizer's state_dict, or any nesting of dicts with str
    or int keys, lists, tuples, Tensors, NumPy arrays, numbers, bools, strings and None) to
    ``path``. Atomic: the file is written beside ``path`` and renamed over it only when complete,
    so a crash mid-save leaves the previous checkpoint intact.

    >>> cr.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.npz")
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    root = _encode(obj, arrays, {}, "obj")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    arrays[MANIFEST] = np.frombuffer(manifest.encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def load(path: str | os.PathLike, map_location: Any = None) -> Any:
    """Read what ``save`` wrote: Tensors come back as Tensors with their dtype, NumPy arrays as
    arrays, int dict keys as ints and tuples as tuples. ``map_location`` is accepted for
    PyTorch habits and ignored (everything lives in NumPy)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            if MANIFEST not in npz.files:
                raise ValueError("an .npz archive without a chainrule manifest")
            arrays = {name: npz[name] for name in npz.files}
        manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError("its manifest is not a chainrule manifest")
        if manifest.get("version", 0) > VERSION:
            raise ValueError(f"format version {manifest['version']} is newer than this chainrule")
        return _decode(manifest["root"], arrays, {})
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, TypeError) as e:
        raise ValueError(
            f"load: {path} is not a readable chainrule checkpoint (truncated, corrupt, or "
            f"another format): {e}"
        ) from e
