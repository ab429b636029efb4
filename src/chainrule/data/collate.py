"""Collation: samples into batches (``default_collate``), or arrays into tensors
(``default_convert``, when a DataLoader does not batch), as in ``torch.utils.data``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import chainrule as cr


def default_collate(batch: list) -> Any:
    """Stack a list of samples into one batch, like PyTorch's ``default_collate``.

    Tensors and arrays are stacked along a new first axis (dtype kept); Python ints become an
    int64 Tensor, floats float64, bools bool; strings stay as they are (a list, or a tuple of a tuple's field); tuples, lists and dicts are
    collated field by field (a tuple of fields comes back as a list, as in PyTorch).
    """
    elem = batch[0]
    if isinstance(elem, cr.Tensor):
        return cr.from_numpy(_stack([b._data for b in batch]))
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(elem, (str, bytes)):
        if elem.dtype.kind in "SUOV":  # as PyTorch: no tensor of strings or objects
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, "
                            f"numbers, dicts or lists; found {elem.dtype}")
        return cr.from_numpy(_stack(batch))
    if isinstance(elem, bool):
        return cr.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return cr.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return cr.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch  # as given: a list, or a tuple of a field (PyTorch's ('a', 'b'))
    if isinstance(elem, Mapping):
        return {key: default_collate([b[key] for b in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(f) for f in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of "
                               "equal size; got lengths "
                               + str(sorted({len(b) for b in batch})))
        return [default_collate(f) for f in zip(*batch)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(elem).__name__}")


def _stack(arrays) -> np.ndarray:
    shapes = [np.shape(a) for a in arrays]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, "
                               f"but got {list(shapes[0])} at entry 0 and {list(shape)} at "
                               f"entry {i}")
    return np.stack(arrays)


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars into tensors, inside dicts, tuples and lists too; leave
    everything else as it is. What ``DataLoader(batch_size=None)`` does to each sample."""
    if isinstance(data, cr.Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)):
        return data if data.dtype.kind in "OSUV" else cr.from_numpy(np.asarray(data))
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]  # a tuple becomes a list, as in PyTorch
    return data
