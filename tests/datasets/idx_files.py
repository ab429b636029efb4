"""Helpers for tests: write small MNIST-style IDX files (raw or gzip)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding of a uint8 array: magic, one big-endian uint32 per dimension, data."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.tobytes()


def write_bytes(path: Path, data: bytes, gz: bool = False) -> Path:
    path = Path(path).with_name(Path(path).name + (".gz" if gz else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_idx(path: Path, array: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
    """Write ``array`` to ``path`` (plus ``.gz`` when ``gz``); return the path written."""
    return write_bytes(path, idx_bytes(array, magic), gz)


def make_split(
    folder: Path, split: str = "train", n: int = 12, gz: bool = True, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write ``{split}-images-idx3-ubyte`` and ``{split}-labels-idx1-ubyte`` holding ``n``
    random 28x28 images and labels 0..9; return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(Path(folder) / f"{split}-images-idx3-ubyte", images, gz)
    write_idx(Path(folder) / f"{split}-labels-idx1-ubyte", labels, gz)
    return images, labels


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()
