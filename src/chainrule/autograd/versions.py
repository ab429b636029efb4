"""Version counters: how many times a tensor's memory has been changed in place.

A node keeps arrays for its backward (its inputs, its output). If one of them is changed in place
before backward runs (``w.add_(1)``, ``x[0] = 5``, an optimizer step), backward would compute the
gradient from the new values, and the result would be silently wrong. So, as PyTorch, chainrule
counts the in-place changes of every memory block: the array that owns the memory, which views
and ``detach()`` share. Each change is stamped with the creation counter that numbers the nodes
(``seq``), so backward can tell whether a node's saved arrays changed after the node was made, and
raise PyTorch's error instead of using them.

Nothing is recorded when an op is made: the engine looks only at nodes older than the latest
in-place change (``latest``), which in a training loop is none of them.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections import deque

import numpy as np


_ndarray = np.ndarray
_KEEP = 64  # change stamps kept per memory block (older changes are only counted)

# id(owner) -> [weakref to the owning array, version, stamps of the recent changes]
_blocks: dict = {}
latest = -1  # the stamp (a node creation number, seq) of the latest change to any memory


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself if it is not a view)."""
    while True:
        b = a.base
        if b is None:
            return a
        if not isinstance(b, _ndarray):
            b = getattr(b, "base", None)  # as_strided's views hang off a helper object
            if not isinstance(b, _ndarray):
                return a
        a = b


def _forget(key):
    def callback(ref):
        block = _blocks.get(key)
        if block is not None and block[0] is ref:
            del _blocks[key]
    return callback


def _block(owner):
    key = id(owner)
    block = _blocks[key] = [weakref.ref(owner, _forget(key)), 0, deque(maxlen=_KEEP)]
    return block


def bump(array) -> None:
    """Count one in-place change of ``array``'s memory (an ndarray). (A block found under the
    owner's id is the owner's: the block goes when its owner does, before the id can be reused.)"""
    global latest
    owner = array if array.base is None else _owner(array)
    block = _blocks.get(id(owner)) or _block(owner)
    block[1] += 1
    block[2].append(latest := _next_seq())


def version(array) -> int:
    """How many times ``array``'s memory has been changed in place (``tensor._version``)."""
    if not isinstance(array, _ndarray):
        return 0
    owner = _owner(array)
    block = _blocks.get(id(owner))
    return block[1] if block is not None else 0


def _changed_since(array, seq):
    """(version now, version when node ``seq`` was made) if ``array`` changed after it, else None."""
    owner = _owner(array)
    block = _blocks.get(id(owner))
    if block is None or not block[2] or block[2][-1] < seq:
        return None
    stamps = block[2]
    expected = block[1] - len(stamps) + bisect_left(stamps, seq)
    # older than every change still remembered: the version then was this, or earlier
    return block[1], (f"{expected} or earlier" if seq < stamps[0] and len(stamps) == _KEEP
                      else expected)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


def describe(array) -> str:
    """``[chainrule.FloatTensor [3, 4]]``: a tensor as PyTorch's messages write it."""
    name = _TYPE_NAMES.get(str(array.dtype), f"{array.dtype} tensor")
    return f"[chainrule.{name} [{', '.join(map(str, array.shape))}]]"


def check_saved(node, saved, output, inputs=False) -> None:
    """Raise PyTorch's error if an array ``node`` saved for backward was changed in place after
    the node was made. ``saved``: what it saved; ``output``: its output tensor, if known."""
    seq = node.seq
    needed_by = None if inputs else type(node).needed_by  # (``saved`` are its inputs' arrays)
    needs = node.needs_input_grad
    for i, item in enumerate(saved):
        data = item._data if isinstance(item, Tensor) else item  # a Function of yours saves Tensors
        if type(data) is not _ndarray:
            continue
        if needed_by is not None and needed_by[i] is not None and not needs[needed_by[i]]:
            continue  # no gradient of this node reads it
        found = _changed_since(data, seq)
        if found is None:
            continue
        now, expected = found
        # Only tensors users hold can be changed in place: if not an input's memory, the output's
        what = "its output"
        owner = _owner(data)
        for i, t in enumerate(node.inputs):
            d = getattr(t, "_data", t)
            if isinstance(d, _ndarray) and _owner(d) is owner:
                what = f"input {i}"
                break
        raise RuntimeError(
            f"{node.name()}: one of the variables needed for gradient computation has been "
            f"modified by an inplace operation: {describe(data)}, which is {what} of "
            f"{node.name()}, is at version {now}; expected version {expected} instead. Hint: "
            "the tensor was changed in place (add_, mul_, x[i] = v, fill_, copy_, an optimizer "
            "step, or a change made through detach() or a view) after this op used it and "
            "before backward; compute on a clone() instead, or run backward first.")


from .function import _next_seq  # noqa: E402
from ..tensor import Tensor  # noqa: E402
