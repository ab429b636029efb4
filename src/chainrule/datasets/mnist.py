"""MNIST and Fashion-MNIST, read from the original IDX files (gzip-compressed or raw)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import sys
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.data.dataset import Dataset, _as_array

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"{path}: corrupt gzip file ({e}); delete it and download it again"
            ) from e
    return raw


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes: big-endian magic number, one uint32 per dimension,
    then the data. ``magic`` is 2051 for images (N, rows, cols), 2049 for labels (N,)."""
    path = Path(path)
    raw = _read_bytes(path)
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated: {len(raw)} bytes, shorter than the {header}-byte header of an "
            f"IDX {kind} file; delete it and download it again"
        )
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(
            f"{path}: bad magic number {got}, expected {magic} for an IDX {kind} file; "
            f"is it the right file (images and labels swapped, or not MNIST at all)?"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    size, body = math.prod(dims), len(raw) - header
    if body != size:
        items = f"{dims[0]} images of {dims[1]}x{dims[2]}" if ndim == 3 else f"{dims[0]} labels"
        raise ValueError(
            f"{path}: header says {items} ({size} bytes) but the file holds {body} bytes after "
            f"the header: truncated or corrupt; delete it and download it again"
        )
    return np.frombuffer(raw, np.uint8, count=size, offset=header).reshape(dims).copy()


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1]; one function so that both batching paths agree."""
    out = images.astype(np.float32)
    out /= np.float32(255)
    return out


class _Pixels:
    """uint8 images (N, 28, 28) seen as float32 (N, 1, 28, 28) in [0, 1], converted batch by
    batch when indexed: the DataLoader's whole-array batching then sees edits of ``ds.data``
    (a converted copy made once would keep serving the old pixels)."""

    def __init__(self, raw: np.ndarray):
        self.raw = raw

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index) -> np.ndarray:
        return _to_float(self.raw[index][:, None])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = _to_float(self.raw[:, None])
        return out if dtype is None else out.astype(dtype, copy=False)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _existing(path: Path) -> Path | None:
    """``path`` or ``path.gz``, whichever exists (the raw file first)."""
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download ``url`` to ``dest`` through a temp file; check its MD5, then ``os.replace``."""
    print(f"downloading {url}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        request = urllib.request.Request(url, headers={"User-Agent": "chainrule"})
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(request, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if digest.hexdigest() != md5:
            raise ValueError(
                f"bad checksum: MD5 {digest.hexdigest()}, expected {md5} "
                f"(a corrupt or incomplete download)"
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, 10 classes.

    ``ds[i]`` is ``(image, label)``. Without ``transform`` the image is a float32 Tensor of shape
    (1, 28, 28) scaled to [0, 1] and the label an int. This differs on purpose from PyTorch,
    whose MNIST returns a PIL image for ``ToTensor()`` to convert: here the image already is that
    tensor, and ``transform`` receives it. ``.data`` is the uint8 Tensor (N, 28, 28) and
    ``.targets`` the int64 Tensor (N,), as in PyTorch. Normalize with ``MNIST.mean``/``MNIST.std``.

    Files are the originals, ``train-images-idx3-ubyte[.gz]`` etc., looked for in ``root`` and its
    ``mnist/``, ``mnist/raw/``, ``MNIST/``, ``MNIST/raw/``; without ``root`` in
    ``$CHAINRULE_DATA``, else in ``~/.cache/chainrule`` (``$XDG_CACHE_HOME``). ``download=True``
    fetches missing files from ``mirrors`` and checks their MD5 before use.

    >>> train = MNIST(train=True)
    >>> image, label = train[0]            # Tensor (1, 28, 28) float32, 5
    """

    folder = "mnist"
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    resources = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    raw_md5 = {  # the MD5s of the decompressed originals (the images files)
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]  # fmt: skip
    mean, std = 0.1307, 0.3081  # training-set pixel statistics, in [0, 1] units

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        download: bool = False,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ):
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        split = "train" if train else "t10k"
        names = [f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"]
        base, dirs, target = self._search_dirs(root)
        found = self._find(dirs, names)
        if found is None and download:
            for name in names:
                if _existing(target / name) is None:
                    self._download(target, name + ".gz")
            found = self._find([target], names)
        if found is None:
            raise FileNotFoundError(self._missing(base, dirs, names, target))
        images_path, labels_path = found
        self.root = images_path.parent
        self._check_origin(images_path)
        images = read_idx(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        if images.shape[1:] != (28, 28):
            raise ValueError(
                f"{images_path}: the images are {images.shape[1]}x{images.shape[2]}; "
                f"{type(self).__name__}'s are 28x28"
            )
        if len(images) == 0:
            raise ValueError(f"{images_path}: holds 0 images; an empty set is an error")
        if len(images) != len(labels):
            raise ValueError(
                f"{type(self).__name__}: {images_path} holds {len(images)} images but "
                f"{labels_path} holds {len(labels)} labels; the two files do not belong together"
            )
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(
                f"{labels_path}: label {labels.max()} is out of range for "
                f"{len(self.classes)} classes; is it the right file?"
            )
        self.data = cr.from_numpy(images)
        self.targets = cr.from_numpy(labels.astype(np.int64))

    def _check_origin(self, path: Path) -> None:
        """Refuse the other data set's original files (known by their MD5, gzipped or raw)."""
        owner = _ORIGINALS.get(_md5(path))
        family = next(c for c in type(self).__mro__ if c in (MNIST, FashionMNIST))
        if owner is not None and owner is not family:
            raise ValueError(
                f"{path}: these are {owner.__name__}'s files (the MD5 of its original "
                f"{path.name.split('.')[0]}), not {family.__name__}'s; use "
                f"{owner.__name__}, or give the folder of {family.__name__}'s files"
            )

    @classmethod
    def _search_dirs(cls, root: str | os.PathLike | None) -> tuple[Path, list[Path], Path]:
        """The base folder, the folders that may hold the files, and the one to download into."""
        if root is None:
            env = os.environ.get("CHAINRULE_DATA")
            cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "chainrule"
            root = env or cache
        base = Path(root).expanduser()
        subs = ["", cls.folder, f"{cls.folder}/raw", cls.__name__, f"{cls.__name__}/raw"]
        dirs = list(dict.fromkeys(base / s for s in subs))
        named = base.name.lower() in {cls.folder, cls.__name__.lower(), "raw"}
        return base, dirs, base if named else base / cls.folder

    @staticmethod
    def _find(dirs: list[Path], names: list[str]) -> list[Path] | None:
        for d in dirs:
            paths = [_existing(d / name) for name in names]
            if all(paths):
                return paths
        return None

    def _missing(self, base: Path, dirs: list[Path], names: list[str], target: Path) -> str:
        where = "\n".join(f"  {d}" for d in dirs)
        absent = ("" if base.is_dir() else f"{base} is a file, not a folder. " if base.exists()
                  else f"The folder {base} does not exist. ")
        return (
            f"{type(self).__name__}: could not find {names[0]}[.gz] and {names[1]}[.gz]. "
            f"{absent}Looked in:\n{where}\n"
            f"Pass root= the folder that holds them, set CHAINRULE_DATA to a folder containing "
            f"{self.folder}/, or pass download=True to fetch them into {target}."
        )

    @classmethod
    def _download(cls, folder: Path, filename: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        failures = []
        for mirror in cls.mirrors:
            url = mirror + filename
            try:
                _fetch(url, folder / filename, cls.resources[filename])
                return
            except (OSError, ValueError) as e:  # URLError is an OSError
                failures.append(f"  {url}: {e}")
        raise RuntimeError(
            f"{cls.__name__}: could not download {filename} into {folder}:\n"
            + "\n".join(failures)
            + f"\nFetch it by hand from one of these URLs into {folder}, "
            f"or pass root= a folder that holds it."
        )

    def __len__(self) -> int:
        return len(_as_array(self.data))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = cr.from_numpy(_to_float(_as_array(self.data)[index][None]))
        target = int(_as_array(self.targets)[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def _arrays(self) -> tuple[_Pixels, np.ndarray] | None:
        """(images as float32 (N, 1, 28, 28) in [0, 1], converted per batch, targets int64 (N,))
        for the DataLoader's whole-array batching; None when a transform must see each sample."""
        if self.transform is not None or self.target_transform is not None:
            return None
        return _Pixels(_as_array(self.data)), _as_array(self.targets).astype(np.int64, copy=False)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} samples, root={self.root})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grey images of 10 kinds of clothing, laid out as MNIST.

    Same files, folders and behaviour as ``MNIST``, under ``fashion-mnist/`` (or
    ``FashionMNIST/raw/``).
    """

    folder = "fashion-mnist"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    raw_md5: dict[str, str] = {}  # not recorded: raw Fashion-MNIST files are known only gzipped
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    mean, std = 0.2860, 0.3530


# the data set each original images file belongs to, by its MD5 (gzipped, or raw where known)
_ORIGINALS = {md5: cls for cls in (MNIST, FashionMNIST)
              for name, md5 in [*cls.resources.items(), *cls.raw_md5.items()]
              if name.startswith(("train-images", "t10k-images"))}
