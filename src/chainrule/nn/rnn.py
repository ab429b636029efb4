"""Recurrent layers with PyTorch's API, parameter names and layouts: ``RNN`` (tanh or relu),
``LSTM`` and ``GRU``, and the single steps ``RNNCell``, ``LSTMCell`` and ``GRUCell``.

One layer and direction is two nodes: ``x_t W_ihᵀ + b_ih`` for every time step at once (one
``Linear`` over all rows), then the fused time loop of ``ops/rnn.py``. Layers stack, the reverse
direction's outputs are concatenated after the forward one's, and dropout (training mode only)
sits between layers, as in PyTorch::

    lstm = nn.LSTM(input_size=10, hidden_size=20, num_layers=2)
    output, (h_n, c_n) = lstm(x)          # x (T, N, 10): output (T, N, 20), h_n, c_n (2, N, 20)
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..ops.nn import Linear as _Linear
from ..ops.nn import dropout as _dropout
from ..ops.rnn import GRURecurrence, LSTMRecurrence, RNNRecurrence
from ..ops.shape import cat, stack
from ..tensor import Tensor, _make
from . import init
from .linear import _factory
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _zeros(shape, dtype) -> Tensor:
    return _make(np.zeros(shape, dtype), None)


def _run(mode, gates_x, hx, weight_hh, bias_hh, batch_sizes, reverse):
    """One layer and direction's time loop: (h of every row, c of every row or None)."""
    if mode == "LSTM":
        y = LSTMRecurrence.apply(gates_x, hx[0], hx[1], weight_hh, bias_hh,
                                 batch_sizes=batch_sizes, reverse=reverse)
        return y[0], y[1]
    if mode == "GRU":
        return GRURecurrence.apply(gates_x, hx, weight_hh, bias_hh, batch_sizes=batch_sizes,
                                   reverse=reverse), None
    return RNNRecurrence.apply(gates_x, hx, weight_hh, bias_hh, batch_sizes=batch_sizes,
                               reverse=reverse,
                               nonlinearity="relu" if mode == "RNN_RELU" else "tanh"), None


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and ``..._reverse``), each of shape
    (gates·hidden_size, ·), initialised from U(-1/√hidden_size, 1/√hidden_size); and the
    forward over padded or packed batches."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size:
            raise NotImplementedError(f"LSTM(proj_size={proj_size}): LSTMs with projections are "
                                      "not implemented in chainrule (proj_size must be 0)")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                names = []
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(np.empty(shape, dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN call; nothing to do here (accepted so that code calling it runs)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters, one list per layer and direction, in PyTorch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- forward ---------------------------------------------------------------------------------

    def _name(self) -> str:
        return "RNN" if self.mode.startswith("RNN") else self.mode

    def _check_hidden(self, h, expected, msg: str) -> None:
        if tuple(h.shape) != expected:
            raise RuntimeError(msg.format(expected, list(h.shape)))

    def forward(self, input, hx=None):
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        name = self._name()
        if lstm and hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0) of two tensors, got "
                            f"{type(hx).__name__}")
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            sizes = tuple(int(b) for b in np.asarray(batch_sizes._data if isinstance(
                batch_sizes, Tensor) else batch_sizes).reshape(-1))
            batch = sizes[0]
            if data.ndim != 2:
                raise RuntimeError(f"input must have 2 dimensions, got {data.ndim}")
            x = data
            if hx is not None and sorted_indices is not None:  # hx follows the user's order
                hx = (tuple(h.index_select(1, sorted_indices) for h in hx) if lstm
                      else hx.index_select(1, sorted_indices))
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                                 + ("instead" if lstm else "tensor instead"))
            unbatched = input.ndim == 2
            if unbatched:
                input = input.unsqueeze(0 if self.batch_first else 1)
                if hx is not None:
                    dims = [h.ndim for h in hx] if lstm else [hx.ndim]
                    if any(d != 2 for d in dims):
                        raise RuntimeError(
                            "For unbatched 2-D input, hx and cx should also be 2-D but got "
                            f"({dims[0]}-D, {dims[1]}-D) tensors" if lstm else
                            f"For unbatched 2-D input, hx should also be 2-D but got "
                            f"{dims[0]}-D tensor")
                    hx = tuple(h.unsqueeze(1) for h in hx) if lstm else hx.unsqueeze(1)
            elif hx is not None:
                dims = [h.ndim for h in hx] if lstm else [hx.ndim]
                if any(d != 3 for d in dims):
                    raise RuntimeError(
                        "For batched 3-D input, hx and cx should also be 3-D but got "
                        f"({dims[0]}-D, {dims[1]}-D) tensors" if lstm else
                        f"For batched 3-D input, hx should also be 3-D but got {dims[0]}-D "
                        "tensor")
            x = input.transpose(0, 1) if self.batch_first else input
            steps, batch = x.shape[0], x.shape[1]
            if steps == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            sizes = (batch,) * steps
            sorted_indices = unsorted_indices = None
        if x.shape[-1] != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        weight = self.weight_ih_l0
        if x.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({x.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to(cr.{weight.dtype}), "
                             f"or convert model: model.to(cr.{x.dtype})")
        expected = (self.num_layers * directions, batch, self.hidden_size)
        for i, h in enumerate(() if hx is None else hx if lstm else (hx,)):
            if h.dtype != x.dtype:
                raise RuntimeError(f"{name}: {'hx[%d]' % i if lstm else 'hx'} dtype ({h.dtype}) "
                                   f"does not match input dtype ({x.dtype})")
        if hx is None:
            h0 = _zeros(expected, x.dtype)
            hx = (h0, _zeros(expected, x.dtype)) if lstm else h0
        elif lstm:
            self._check_hidden(hx[0], expected, "Expected hidden[0] size {}, got {}")
            self._check_hidden(hx[1], expected, "Expected hidden[1] size {}, got {}")
        else:
            self._check_hidden(hx, expected, "Expected hidden size {}, got {}")

        # rows: time-major (R, features); step t owns sizes[t] consecutive rows
        rows = x if packed else x.reshape(-1, x.shape[-1])
        last_rows = None
        if packed and min(sizes) != batch:  # each sequence's last row, for the final state
            lengths = (np.asarray(sizes)[:, None] > np.arange(batch)[None, :]).sum(axis=0)
            offsets = np.concatenate(([0], np.cumsum(sizes)))
            last_rows = offsets[lengths - 1] + np.arange(batch)
        p = self._parameters
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                gates_x = _Linear.apply(rows, p["weight_ih" + suffix], p.get("bias_ih" + suffix))
                state = (hx[0][k], hx[1][k]) if lstm else hx[k]
                h, c = _run(self.mode, gates_x, state, p["weight_hh" + suffix],
                            p.get("bias_hh" + suffix), sizes, direction == 1)
                outputs.append(h)
                if direction == 1:  # the reverse direction ends at step 0
                    final = slice(0, batch)
                elif last_rows is not None:
                    final = last_rows
                else:
                    final = slice(h.shape[0] - batch, h.shape[0])
                h_n.append(h[final])
                if lstm:
                    c_n.append(c[final])
            rows = outputs[0] if directions == 1 else cat(outputs, 1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                rows = _dropout(rows, self.dropout, True)
        h_n = stack(h_n)
        c_n = stack(c_n) if lstm else None
        if packed:
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = c_n.index_select(1, unsorted_indices) if lstm else None
            output = PackedSequence(rows, batch_sizes, sorted_indices, unsorted_indices)
        else:
            output = rows.reshape(steps, batch, rows.shape[-1])
            if self.batch_first:
                output = output.transpose(0, 1)
            if unbatched:
                output = output.squeeze(0 if self.batch_first else 1)
                h_n = h_n.squeeze(1)
                c_n = c_n.squeeze(1) if lstm else None
        return output, ((h_n, c_n) if lstm else h_n)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), act ``nonlinearity``
    ("tanh" or "relu"). Input (T, N, input_size) (``batch_first``: (N, T, ·); unbatched: (T, ·))
    or a PackedSequence; h0 (num_layers·directions, N, hidden_size), zeros if not given. Returns
    (output (T, N, directions·hidden_size): the last layer's h_t, h_n: each layer's final h)."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' "
                             "or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o = σ, σ, tanh, σ of x_t W_ihᵀ + b_ih +
    h_{t-1} W_hhᵀ + b_hh (stacked in that order in each weight);  c_t = f c_{t-1} + i g,
    h_t = o tanh(c_t). Input as ``RNN``; (h0, c0) zeros if not given. Returns
    (output, (h_n, c_n)). ``proj_size`` other than 0 raises NotImplementedError."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h +
    b_hz), n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h_t = (1 - z) n + z h_{t-1} (r, z, n
    stacked in that order in each weight). Input and outputs as ``RNN``."""

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# -- cells: one time step ----------------------------------------------------------------------

class RNNCellBase(Module):
    """``weight_ih`` (gates·hidden_size, input_size), ``weight_hh`` (gates·hidden_size,
    hidden_size), ``bias_ih`` and ``bias_hh`` (gates·hidden_size,), from
    U(-1/√hidden_size, 1/√hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        dtype = _factory(device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(np.empty((num_chunks * hidden_size, input_size), dtype))
        self.weight_hh = Parameter(np.empty((num_chunks * hidden_size, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(num_chunks * hidden_size, dtype))
            self.bias_hh = Parameter(np.empty(num_chunks * hidden_size, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, name, input, hx, n_states):
        """Checks as PyTorch's, then one step of the recurrence: the new state(s)."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if n_states == 2 and hx is not None and (not isinstance(hx, (tuple, list))
                                                 or len(hx) != 2):
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) of two tensors, got "
                            f"{type(hx).__name__}")
        states = [] if hx is None else (list(hx) if n_states == 2 else [hx])
        for i, h in enumerate(states):
            if h.ndim not in (1, 2):
                what = f"hx[{i}]" if n_states == 2 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.ndim}D "
                                 "instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
            states = [h.unsqueeze(0) for h in states]
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        if not states:
            states = [_zeros((input.shape[0], self.hidden_size), input.dtype)] * n_states
        for i, h in enumerate(states):
            if h.dtype != input.dtype:
                raise RuntimeError(f"{name}: {'hx[%d]' % i if n_states == 2 else 'hx'} dtype "
                                   f"({h.dtype}) does not match input dtype ({input.dtype})")
        for i, h in enumerate(states):
            if h.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{i} "
                                   f"batch size {h.shape[0]}")
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {h.shape[1]}, "
                                   f"expected {self.hidden_size}")
        gates_x = _Linear.apply(input, self.weight_ih, self.bias_ih)
        mode = "LSTM" if n_states == 2 else ("GRU" if name == "GRUCell" else
                                              "RNN_RELU" if self.nonlinearity == "relu"
                                              else "RNN_TANH")
        h, c = _run(mode, gates_x, states if n_states == 2 else states[0], self.weight_hh,
                    self.bias_hh, (input.shape[0],), False)
        if not batched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return (h, c) if n_states == 2 else h


class RNNCell(RNNCellBase):
    """One Elman step: h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), act "tanh" or "relu". Input
    (N, input_size) or (input_size,); hx like it with hidden_size, zeros if not given."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step("RNNCell", input, hx, 1)


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from input and (h, c) (zeros if not given), gates i, f, g, o as
    in ``LSTM``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("LSTMCell", input, hx, 2)


class GRUCell(RNNCellBase):
    """One GRU step: h' from input and h (zeros if not given), gates r, z, n as in ``GRU``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("GRUCell", input, hx, 1)
