"""``chainrule.nn.utils.rnn``, PyTorch's ``torch.nn.utils.rnn``: sequences of different lengths in
one batch, padded or packed::

    from chainrule.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    packed = pack_padded_sequence(padded, lengths, enforce_sorted=False)  # padded (T, B, *)
    output, h_n = rnn(packed)                        # h_n: each sequence at its own last step
    padded_out, lengths = pad_packed_sequence(output)

A ``PackedSequence`` holds the steps of every sequence time-major: the ``batch_sizes[0]``
sequences' first elements, then the ``batch_sizes[1]`` that are still going on at step 1, and so
on (longest first: ``sorted_indices`` gives the order, ``unsorted_indices`` undoes it).
Packing, padding and unpacking are indexing ops, so gradients flow through all of them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable

import numpy as np

from ...ops.shape import IndexPut, cat, stack
from ...tensor import Tensor, _make

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _int64(values) -> Tensor:
    return _make(np.asarray(values, dtype=np.int64), None)


def _ints(t) -> np.ndarray:
    return np.asarray(t._data if isinstance(t, Tensor) else t, dtype=np.int64).reshape(-1)


class PackedSequence(namedtuple("PackedSequence_",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """The packed steps of a batch of sequences: ``data`` (sum of lengths, *), ``batch_sizes``
    (int64, one per step: how many sequences have that step), ``sorted_indices`` (the batch
    order by decreasing length, or None if the batch came sorted) and ``unsorted_indices`` (its
    inverse). Made by ``pack_padded_sequence`` and ``pack_sequence``, as in PyTorch."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes), sorted_indices=...)
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """``data`` moved or cast like ``Tensor.to``; the index tensors stay as they are."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes,
                                                         self.sorted_indices,
                                                         self.unsorted_indices)

    def cpu(self) -> "PackedSequence":
        return self

    def pin_memory(self) -> "PackedSequence":
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation):
    """The inverse of a permutation (an int64 tensor), or None for None."""
    if permutation is None:
        return None
    p = _ints(permutation)
    inverse = np.empty_like(p)
    inverse[p] = np.arange(p.size)
    return _int64(inverse)


def _positions(batch_sizes):
    """(step, sequence) of every row of packed data, in packed order."""
    steps = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    starts = np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    return steps, np.arange(steps.size) - starts


def pack_padded_sequence(input, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) of sequences of the given
    ``lengths``. With ``enforce_sorted`` the lengths must be decreasing; otherwise the batch is
    sorted (stably) and the order kept in ``sorted_indices``."""
    lengths = _ints(lengths)
    batch_dim = 0 if batch_first else 1
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input of shape {tuple(input.shape)} has no "
                         "time and batch dimensions")
    if lengths.size != input.shape[batch_dim]:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lengths.size} (batch_size={input.shape[batch_dim]})")
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = _int64(order)
        input = input.index_select(batch_dim, sorted_indices)
    if lengths.size == 0 or lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if lengths[0] > input.shape[1 - batch_dim]:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths[0]} in a padded input of "
                           f"{input.shape[1 - batch_dim]} steps (input shape "
                           f"{tuple(input.shape)})")
    batch_sizes = (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(axis=1)
    steps, seqs = _positions(batch_sizes)
    data = input[(seqs, steps) if batch_first else (steps, seqs)]
    return PackedSequence(data, _int64(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The inverse of ``pack_padded_sequence``: (padded (T, B, *) or (B, T, *), lengths), in the
    batch's original order; ``total_length`` pads to that many steps."""
    data, batch_sizes, _, unsorted_indices = sequence
    batch_sizes = _ints(batch_sizes)
    steps_total = batch_sizes.size
    if total_length is not None:
        if total_length < steps_total:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps_total}")
        steps_total = total_length
    batch = int(batch_sizes[0])
    lengths = (batch_sizes[:, None] > np.arange(batch)[None, :]).sum(axis=0)
    steps, seqs = _positions(batch_sizes)
    base = _make(np.full((steps_total, batch) + tuple(data.shape[1:]), padding_value,
                         dtype=data.dtype), None)
    padded = IndexPut.apply(base, data, index=(steps, seqs))
    if batch_first:
        padded = padded.transpose(0, 1)
    if unsorted_indices is not None:
        padded = padded.index_select(0 if batch_first else 1, unsorted_indices)
        lengths = lengths[_ints(unsorted_indices)]
    return padded, _int64(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right"):
    """Stack sequences of shapes (L_i, *) into (T, B, *) (or (B, T, *) with ``batch_first``),
    T the longest L_i, filling with ``padding_value`` on the ``padding_side`` ("right" or
    "left")."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of "
                           f"type: {type(sequences)}")
    if padding_side not in ("left", "right"):
        raise RuntimeError("Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: sequence {i} has shape {tuple(s.shape)}, but "
                               f"sequence 0 has trailing dimensions {trailing} (every sequence "
                               "must be (L_i, *) with the same *)")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        if s.shape[0] < longest:
            fill = _make(np.full((longest - s.shape[0],) + trailing, padding_value,
                                 dtype=s.dtype), None)
            s = cat([s, fill] if padding_side == "right" else [fill, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The inverse of ``pad_sequence`` (right padding): a list of (L_i, *) tensors."""
    lengths = _ints(lengths)
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors: ``pack_padded_sequence(pad_sequence(sequences), ...)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of ``pack_sequence``: a list of (L_i, *) tensors in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
