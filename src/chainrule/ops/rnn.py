"""Fused recurrences: the time loop of an RNN (tanh, relu), LSTM or GRU layer as one node each.

The input's contribution to the gates, x_t W_ihᵀ + b_ih, is not part of these ops: the layer
computes it for every time step with one matrix product beforehand (``Linear`` over all rows).
What remains is the loop, and that is what these ops fuse: per step one (b, H) @ (H, G) product
and a few elementwise operations in NumPy, with no graph node per step. Backward runs the
loop back in time (backpropagation through time) and gets the recurrent weight's gradient,
Σ_t dgates_tᵀ h_{t-1}, from one product over all steps at the end.

Rows, not a (T, N, G) block: step t owns ``batch_sizes[t]`` consecutive rows of ``gates_x``
(time-major; a padded batch is ``batch_sizes = (N,) * T``, a PackedSequence has shrinking sizes,
the longest sequences first). A sequence that has ended keeps its state, so the running state
holds each sequence's final one at the end. ``reverse=True`` runs from the last step to the
first; a sequence then starts from its initial state at its own last step.

Each op also names its composite, the same loop in primitive ops, which ``create_graph=True``
differentiates (gradients of gradients).
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ._pool import _scratch
from .shape import cat, stack


def _steps(batch_sizes, reverse):
    """(offset, rows) of each step, in the order the recurrence visits them."""
    steps, offset = [], 0
    for b in batch_sizes:
        steps.append((offset, b))
        offset += b
    return steps[::-1] if reverse else steps


def _check(op, gates_x, h0, weight_hh, bias_hh, batch_sizes, gates):
    rows, g = gates_x.shape
    hidden = weight_hh.shape[1]
    if g != gates * hidden or weight_hh.shape[0] != g:
        raise RuntimeError(f"{op}: gates_x of shape {gates_x.shape} and weight_hh of shape "
                           f"{weight_hh.shape} do not match ({gates} gates of hidden size "
                           f"{hidden})")
    if bias_hh is not None and bias_hh.shape != (g,):
        raise RuntimeError(f"{op}: bias_hh of shape {bias_hh.shape}, expected ({g},)")
    if sum(batch_sizes) != rows or h0.shape != (batch_sizes[0], hidden):
        raise RuntimeError(f"{op}: batch_sizes sum to {sum(batch_sizes)} rows and start with "
                           f"{batch_sizes[0]} sequences; gates_x has {rows} rows, h0 shape "
                           f"{h0.shape} (hidden size {hidden})")


def _hidden_product(weight, hp, buffer):
    """hp @ weightᵀ (b, G), as the transposed view of weight @ hpᵀ written into ``buffer``:
    OpenBLAS computes that (G, H) @ (H, b) shape ~1.4x faster than (b, H) @ (H, G)."""
    out = buffer[:weight.shape[0] * hp.shape[0]].reshape(weight.shape[0], hp.shape[0])
    np.matmul(weight, hp.T, out=out)
    return out.T


def _recorded_steps(batch_sizes, reverse, step, state):
    """The composite's loop: ``step(offset, rows, state[:rows]) -> new state rows`` per step; a
    list of per-step outputs in time order."""
    outputs = [None] * len(batch_sizes)
    offsets = np.cumsum((0,) + tuple(batch_sizes))
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    total = state[0].shape[0]
    for t in order:
        b = batch_sizes[t]
        new = step(int(offsets[t]), b, [s[:b] for s in state])
        outputs[t] = new
        state = [n if b == total else cat([n, s[b:]]) for n, s in zip(new, state)]
    return outputs


class RNNRecurrence(Function):
    """h_t = act(gx_t + h_{t-1} W_hhᵀ + b_hh), act tanh or relu (gx_t = x_t W_ihᵀ + b_ih);
    output: h_t for every row, (R, H).
    Backward, from the last step: da_t = (dL/dh_t + da_{t+1} W_hh) · act'(h_t);
    dL/dgx_t = da_t,  dL/dW_hh = Σ_t da_tᵀ h_{t-1},  dL/db_hh = Σ_t da_t,  dL/dh0 = da_1 W_hh"""

    op = "rnn"

    @staticmethod
    def forward(ctx, gates_x, h0, weight_hh, bias_hh, batch_sizes=(), reverse=False,
                nonlinearity="tanh"):
        _check("rnn", gates_x, h0, weight_hh, bias_hh, batch_sizes, 1)
        if bias_hh is not None:
            gates_x = np.add(gates_x, bias_hh, out=_scratch(gates_x.shape, gates_x.dtype))
        y = _scratch(gates_x.shape, gates_x.dtype)
        h_prev = _scratch(gates_x.shape, gates_x.dtype)
        h = h0.copy()
        buffer = np.empty(weight_hh.shape[0] * h.shape[0], h.dtype)
        relu = nonlinearity == "relu"
        for offset, b in _steps(batch_sizes, reverse):
            rows = slice(offset, offset + b)
            hp = h[:b]
            h_prev[rows] = hp
            a = y[rows]
            np.add(_hidden_product(weight_hh, hp, buffer), gates_x[rows], out=a)
            if relu:
                np.maximum(a, 0, out=a)
            else:
                np.tanh(a, out=a)
            h[:b] = a
        ctx.saved = (weight_hh, h_prev, y)
        ctx.batch_sizes, ctx.reverse, ctx.relu = batch_sizes, reverse, relu
        return y

    @staticmethod
    def backward(ctx, grad_output):
        weight_hh, h_prev, y = ctx.saved
        # act'(a) from the output: 1 - h² (tanh), h > 0 (relu)
        deriv = _scratch(y.shape, y.dtype)
        if ctx.relu:
            np.greater(y, 0, out=deriv)
        else:
            np.multiply(y, y, out=deriv)
            np.subtract(1, deriv, out=deriv)
        da = _scratch(y.shape, y.dtype)
        dh = np.zeros((ctx.batch_sizes[0], y.shape[1]), y.dtype)
        for offset, b in _steps(ctx.batch_sizes, not ctx.reverse):
            rows = slice(offset, offset + b)
            d = da[rows]
            np.add(dh[:b], grad_output[rows], out=d)
            d *= deriv[rows]
            np.matmul(d, weight_hh, out=dh[:b])
        need = ctx.needs_input_grad
        return (da if need[0] else None, dh if need[1] else None,
                da.T @ h_prev if need[2] else None, da.sum(axis=0) if need[3] else None)

    @staticmethod
    def composite(ctx, gates_x, h0, weight_hh, bias_hh, batch_sizes=(), reverse=False,
                  nonlinearity="tanh"):
        """The same loop in primitive ops: what ``create_graph=True`` differentiates."""
        w_t = weight_hh.t()

        def step(offset, b, state):
            a = gates_x[offset:offset + b] + state[0] @ w_t
            if bias_hh is not None:
                a = a + bias_hh
            return [a.relu() if nonlinearity == "relu" else a.tanh()]

        outputs = _recorded_steps(batch_sizes, reverse, step, [h0])
        return cat([o[0] for o in outputs])


class LSTMRecurrence(Function):
    """gates_t = gx_t + h_{t-1} W_hhᵀ + b_hh, split into i, f, g, o (PyTorch's order);
    i, f, o = σ(.), g = tanh(.);  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t);
    output: (2, R, H), h_t in [0] and c_t in [1] for every row.
    Backward, from the last step (dh, dc: the gradients reaching h_t and c_t):
    dc += dh o (1 - tanh² c_t);  do = dh tanh c_t,  di = dc g,  df = dc c_{t-1},  dg = dc i,
    each times its activation's derivative, gives dgates_t;  dL/dh_{t-1} = dgates_t W_hh,
    dL/dc_{t-1} = dc f;  dL/dgx_t = dgates_t,  dL/dW_hh = Σ_t dgates_tᵀ h_{t-1}"""

    op = "lstm"

    @staticmethod
    def forward(ctx, gates_x, h0, c0, weight_hh, bias_hh, batch_sizes=(), reverse=False):
        _check("lstm", gates_x, h0, weight_hh, bias_hh, batch_sizes, 4)
        rows_total, g = gates_x.shape
        hid = g // 4
        dtype = gates_x.dtype
        # σ(x) = (tanh(x/2) + 1)/2: one tanh over all four gates, then a scale and a shift
        scale = np.full(g, 0.5, dtype)
        scale[2 * hid:3 * hid] = 1
        shift = np.full(g, 0.5, dtype)
        shift[2 * hid:3 * hid] = 0
        gx = _scratch(gates_x.shape, dtype)
        if bias_hh is None:
            np.multiply(gates_x, scale, out=gx)
        else:
            np.add(gates_x, bias_hh, out=gx)
            gx *= scale
        w_scaled = weight_hh * scale[:, None]  # the recurrent product, scaled like the gates
        acts = _scratch(gates_x.shape, dtype)  # i, f, g, o after their activations
        y = _scratch((2, rows_total, hid), dtype)
        tanh_c = _scratch((rows_total, hid), dtype)
        h_prev = _scratch((rows_total, hid), dtype)
        c_prev = _scratch((rows_total, hid), dtype)
        h, c = h0.copy(), c0.copy()
        ig = np.empty_like(h)
        buffer = np.empty(g * h.shape[0], dtype)
        for offset, b in _steps(batch_sizes, reverse):
            rows = slice(offset, offset + b)
            hp, cp = h[:b], c[:b]
            h_prev[rows] = hp
            c_prev[rows] = cp
            a = acts[rows]
            np.add(_hidden_product(w_scaled, hp, buffer), gx[rows], out=a)
            np.tanh(a, out=a)
            a *= scale
            a += shift
            cn, hn, tc = y[1, rows], y[0, rows], tanh_c[rows]
            np.multiply(a[:, hid:2 * hid], cp, out=cn)
            np.multiply(a[:, :hid], a[:, 2 * hid:3 * hid], out=ig[:b])
            cn += ig[:b]
            np.tanh(cn, out=tc)
            np.multiply(a[:, 3 * hid:], tc, out=hn)
            h[:b] = hn
            c[:b] = cn
        ctx.saved = (weight_hh, acts, tanh_c, h_prev, c_prev)
        ctx.batch_sizes, ctx.reverse = batch_sizes, reverse
        return y

    @staticmethod
    def backward(ctx, grad_output):
        weight_hh, acts, tanh_c, h_prev, c_prev = ctx.saved
        hid = tanh_c.shape[1]
        batch = ctx.batch_sizes[0]
        dtype = acts.dtype
        # each gate's activation derivative from its value: σ' = σ(1 - σ), tanh' = (1 - g)(1 + g)
        k = np.zeros(4 * hid, dtype)
        k[2 * hid:3 * hid] = 1
        deriv = np.subtract(1, acts, out=_scratch(acts.shape, dtype))
        dgates = np.add(acts, k, out=_scratch(acts.shape, dtype))  # a temporary, then dgates
        deriv *= dgates
        dh = np.zeros((batch, hid), dtype)
        dc = np.zeros((batch, hid), dtype)
        tmp = np.empty_like(dh)
        dh_out, dc_out = grad_output[0], grad_output[1]
        for offset, b in _steps(ctx.batch_sizes, not ctx.reverse):
            rows = slice(offset, offset + b)
            a, tc, d = acts[rows], tanh_c[rows], dgates[rows]
            dhb, dcb, t = dh[:b], dc[:b], tmp[:b]
            dhb += dh_out[rows]
            dcb += dc_out[rows]
            np.multiply(tc, tc, out=t)                  # dc += dh o (1 - tanh² c)
            np.subtract(1, t, out=t)
            t *= a[:, 3 * hid:]
            t *= dhb
            dcb += t
            np.multiply(dcb, a[:, 2 * hid:3 * hid], out=d[:, :hid])      # i
            np.multiply(dcb, c_prev[rows], out=d[:, hid:2 * hid])         # f
            np.multiply(dcb, a[:, :hid], out=d[:, 2 * hid:3 * hid])       # g
            np.multiply(dhb, tc, out=d[:, 3 * hid:])                      # o
            d *= deriv[rows]
            dcb *= a[:, hid:2 * hid]
            np.matmul(d, weight_hh, out=dhb)
        need = ctx.needs_input_grad
        return (dgates if need[0] else None, dh if need[1] else None, dc if need[2] else None,
                dgates.T @ h_prev if need[3] else None,
                dgates.sum(axis=0) if need[4] else None)

    @staticmethod
    def composite(ctx, gates_x, h0, c0, weight_hh, bias_hh, batch_sizes=(), reverse=False):
        """The same loop in primitive ops: what ``create_graph=True`` differentiates."""
        hid = weight_hh.shape[1]
        w_t = weight_hh.t()

        def step(offset, b, state):
            h, c = state
            a = gates_x[offset:offset + b] + h @ w_t
            if bias_hh is not None:
                a = a + bias_hh
            i, f = a[:, :hid].sigmoid(), a[:, hid:2 * hid].sigmoid()
            g, o = a[:, 2 * hid:3 * hid].tanh(), a[:, 3 * hid:].sigmoid()
            c = f * c + i * g
            return [o * c.tanh(), c]

        outputs = _recorded_steps(batch_sizes, reverse, step, [h0, c0])
        return stack([cat([o[0] for o in outputs]), cat([o[1] for o in outputs])])


class GRURecurrence(Function):
    """With gx_t = x_t W_ihᵀ + b_ih and gh_t = h_{t-1} W_hhᵀ + b_hh, each split into r, z, n
    (PyTorch's order):  r = σ(gx_r + gh_r),  z = σ(gx_z + gh_z),  n = tanh(gx_n + r gh_n),
    h_t = (1 - z) n + z h_{t-1};  output: h_t for every row, (R, H).
    Backward, from the last step (dh: the gradient reaching h_t):  dn = dh (1 - z)(1 - n²),
    dz = dh (h_{t-1} - n) z (1 - z),  dr = dn gh_n r (1 - r);  dL/dgx_t = (dr, dz, dn),
    dL/dgh_t = (dr, dz, dn r);  dL/dh_{t-1} = dh z + dL/dgh_t W_hh,
    dL/dW_hh = Σ_t (dL/dgh_t)ᵀ h_{t-1},  dL/db_hh = Σ_t dL/dgh_t"""

    op = "gru"

    @staticmethod
    def forward(ctx, gates_x, h0, weight_hh, bias_hh, batch_sizes=(), reverse=False):
        _check("gru", gates_x, h0, weight_hh, bias_hh, batch_sizes, 3)
        rows_total, g = gates_x.shape
        hid = g // 3
        dtype = gates_x.dtype
        acts = _scratch(gates_x.shape, dtype)         # r, z, n after their activations
        gh_n = _scratch((rows_total, hid), dtype)     # h_{t-1} W_hnᵀ + b_hn
        y = _scratch((rows_total, hid), dtype)
        h_prev = _scratch((rows_total, hid), dtype)
        h = h0.copy()
        buffer = np.empty(g * h.shape[0], dtype)
        gh = np.empty((h.shape[0], g), dtype)
        for offset, b in _steps(batch_sizes, reverse):
            rows = slice(offset, offset + b)
            hp, a, ghb = h[:b], acts[rows], gh[:b]
            h_prev[rows] = hp
            np.copyto(ghb, _hidden_product(weight_hh, hp, buffer))
            if bias_hh is not None:
                ghb += bias_hh
            rz = a[:, :2 * hid]
            np.add(gates_x[rows, :2 * hid], ghb[:, :2 * hid], out=rz)
            rz *= 0.5                                  # σ(x) = (tanh(x/2) + 1)/2
            np.tanh(rz, out=rz)
            rz += 1
            rz *= 0.5
            n, hn = a[:, 2 * hid:], y[rows]
            gh_n[rows] = ghb[:, 2 * hid:]
            np.multiply(a[:, :hid], ghb[:, 2 * hid:], out=n)
            n += gates_x[rows, 2 * hid:]
            np.tanh(n, out=n)
            np.subtract(hp, n, out=hn)                 # h = n + z (h_prev - n)
            hn *= a[:, hid:2 * hid]
            hn += n
            h[:b] = hn
        ctx.saved = (weight_hh, acts, gh_n, h_prev)
        ctx.batch_sizes, ctx.reverse = batch_sizes, reverse
        return y

    @staticmethod
    def backward(ctx, grad_output):
        weight_hh, acts, gh_n, h_prev = ctx.saved
        hid = gh_n.shape[1]
        batch = ctx.batch_sizes[0]
        dtype = acts.dtype
        k = np.zeros(3 * hid, dtype)  # σ' = σ(1 - σ) for r, z;  tanh' = (1 - n)(1 + n)
        k[2 * hid:] = 1
        deriv = np.subtract(1, acts, out=_scratch(acts.shape, dtype))
        dgx = np.add(acts, k, out=_scratch(acts.shape, dtype))  # a temporary, then dL/dgx
        deriv *= dgx
        dgh = _scratch(acts.shape, dtype)
        dh = np.zeros((batch, hid), dtype)
        for offset, b in _steps(ctx.batch_sizes, not ctx.reverse):
            rows = slice(offset, offset + b)
            a, d, dh_gates = acts[rows], dgx[rows], dgh[rows]
            r, z, n = a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:]
            dhb = dh[:b]
            dhb += grad_output[rows]
            np.subtract(h_prev[rows], n, out=d[:, hid:2 * hid])   # dz (before σ')
            d[:, hid:2 * hid] *= dhb
            np.subtract(1, z, out=d[:, 2 * hid:])                  # dn (before tanh')
            d[:, 2 * hid:] *= dhb
            np.multiply(d[:, 2 * hid:], deriv[rows, 2 * hid:], out=d[:, 2 * hid:])
            np.multiply(d[:, 2 * hid:], gh_n[rows], out=d[:, :hid])  # dr (before σ')
            d[:, :2 * hid] *= deriv[rows, :2 * hid]
            dh_gates[:, :2 * hid] = d[:, :2 * hid]
            np.multiply(d[:, 2 * hid:], r, out=dh_gates[:, 2 * hid:])
            dhb *= z
            dhb += dh_gates @ weight_hh
        need = ctx.needs_input_grad
        return (dgx if need[0] else None, dh if need[1] else None,
                dgh.T @ h_prev if need[2] else None, dgh.sum(axis=0) if need[3] else None)

    @staticmethod
    def composite(ctx, gates_x, h0, weight_hh, bias_hh, batch_sizes=(), reverse=False):
        """The same loop in primitive ops: what ``create_graph=True`` differentiates."""
        hid = weight_hh.shape[1]
        w_t = weight_hh.t()

        def step(offset, b, state):
            (h,) = state
            gx = gates_x[offset:offset + b]
            gh = h @ w_t
            if bias_hh is not None:
                gh = gh + bias_hh
            r = (gx[:, :hid] + gh[:, :hid]).sigmoid()
            z = (gx[:, hid:2 * hid] + gh[:, hid:2 * hid]).sigmoid()
            n = (gx[:, 2 * hid:] + r * gh[:, 2 * hid:]).tanh()
            return [n + z * (h - n)]

        outputs = _recorded_steps(batch_sizes, reverse, step, [h0])
        return cat([o[0] for o in outputs])
