"""save/load: checkpoints as NumPy ``.npz`` files that never need pickle.

The file holds one array per Tensor / ndarray / NumPy scalar, named ``a0``, ``a1``, ..., and a
JSON manifest (as a uint8 array named ``manifest``) that describes the structure. JSON nodes:
``None``, bools, ints, floats and strings stand for themselves; every other node is a one-key
object: ``{"dict": [[key, node], ...]}`` (keys str or int, order kept), ``{"list": [...]}``,
``{"tuple": [...]}``, ``{"tensor": name, "requires_grad": bool}``, ``{"ndarray": name}``,
``{"scalar": name}``. Loading reads arrays with ``allow_pickle=False`` and parses JSON, so a
checkpoint can never run code.

``load`` trusts nothing in the file: each member's declared shape and dtype must match the bytes
it holds before anything is allocated, so a hostile file cannot make it allocate more than its
own size, and every way a file can be wrong raises ``LoadError``, naming the file.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr

from ._io import atomic_write

FORMAT, VERSION = "chainrule", 1
MANIFEST = "manifest"
_TENSOR_KINDS = "biufc"  # dtype kinds a Tensor holds: bool, ints, floats, complex


class LoadError(pickle.UnpicklingError, ValueError):
    """``cr.load``'s one error for a file that is not a readable chainrule checkpoint (empty,
    truncated, corrupt, hostile, or another format); its message names the file. A subclass of
    ``pickle.UnpicklingError``, which ``torch.load(weights_only=True)`` raises for a file it
    refuses, and of ``ValueError``, so that either habit catches it."""


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
            if array.dtype.kind not in _TENSOR_KINDS:
                raise ValueError(f"tensor {name} has dtype {array.dtype}, which no Tensor holds")
            rg = node.get("requires_grad", False)
            made[name] = (cr.tensor(array, dtype=array.dtype, requires_grad=True) if rg
                          else cr.from_numpy(array))  # fmt: skip
        elif kind == "ndarray":
            made[name] = array
        else:
            made[name] = array[()]
    return made[name]


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

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)

    atomic_write(path, write, durable=True)


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int) -> np.ndarray:
    """One ``.npy`` member, its header checked against the bytes it holds before allocating."""
    name = info.filename
    if info.compress_type != zipfile.ZIP_STORED:  # what save writes; a compressed member could
        raise ValueError(f"member {name} is compressed")  # unpack to far more than the file
    if info.file_size != info.compress_size or info.header_offset + info.file_size > file_size:
        raise ValueError(f"member {name} declares {info.file_size} bytes, more than the file holds")
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(f)
        if dtype.hasobject:
            raise ValueError(f"member {name} holds Python objects (reading them needs pickle)")
        need, have = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
        if need != have:
            raise ValueError(f"member {name} declares shape {shape} of {dtype} ({need} bytes) "
                             f"but holds {have} bytes")
        buf = bytearray(need)
        if f.readinto(buf) != need or f.read(1):  # reading to the end checks the zip's CRC
            raise ValueError(f"member {name} is shorter than its header says")
    return np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran_order else "C")


def _load(path: Path) -> Any:
    if path.is_dir():
        raise ValueError("it is a directory")
    file_size = path.stat().st_size
    if file_size == 0:
        raise ValueError("the file is empty")
    with open(path, "rb") as f:
        if f.read(6) == b"\x93NUMPY":
            raise ValueError("a single .npy array, not an .npz archive")
        f.seek(0)
        with zipfile.ZipFile(f) as z:
            members = {i.filename[:-4]: i for i in z.infolist() if i.filename.endswith(".npy")}
            if MANIFEST not in members:
                raise ValueError("an .npz archive without a chainrule manifest")
            arrays = {name: _read_member(z, info, file_size) for name, info in members.items()}
    manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError("its manifest is not a chainrule manifest")
    if manifest.get("version", 0) > VERSION:
        raise ValueError(f"format version {manifest['version']} is newer than this chainrule")
    return _decode(manifest["root"], arrays, {})


def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: bool | None = None,
         mmap: bool | None = None) -> Any:
    """Read what ``save`` wrote: Tensors come back as Tensors with their dtype, NumPy arrays as
    arrays, int dict keys as ints and tuples as tuples. ``map_location``, ``weights_only`` and
    ``mmap`` are accepted for PyTorch habits (``torch.load(path, weights_only=True)``) and
    ignored: everything lives in NumPy, and loading never unpickles, whatever they say.

    Raises ``FileNotFoundError`` when nothing is at ``path``, and ``LoadError`` (a
    ``ValueError`` and a ``pickle.UnpicklingError``) naming the file for anything else that is
    not a readable checkpoint: a directory, an empty, truncated or corrupt file, another
    format, or a hostile one (members larger than the file, object arrays, deep nesting)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    try:
        return _load(path)
    except Exception as e:  # whatever a hostile file provokes (RecursionError included)
        raise LoadError(
            f"load: {path} is not a readable chainrule checkpoint (truncated, corrupt, or "
            f"another format): {e}"
        ) from e
