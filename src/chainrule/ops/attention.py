"""Attention: ``scaled_dot_product_attention``, softmax(q kᵀ · scale + mask) v, as one fused op,
and ``multi_head_attention_forward`` (``nn.MultiheadAttention``'s computation) around it.

The scores, their softmax and the weighted sum are one op: its forward works in place on one
(..., L, S) array and its backward is closed-form; ``create_graph=True`` differentiates its
composite (matmul, safe softmax, dropout, matmul), so gradients of gradients work as everywhere.
A row whose every key is masked gives zeros (and zero gradients), as PyTorch's does. For
self-attention, ``PackedSelfAttention`` takes q, k and v as the one array the in-projection made
(one matmul), and its backward hands that projection one gradient array.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..random import _rng
from ..tensor import Tensor, _make
from .linalg import _cpp


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _softmax_rows_(s, masked: bool):
    """softmax along the last axis, in place; with ``masked``, a row of -inf only gives zeros."""
    m = s.max(axis=-1, keepdims=True)
    if masked:
        m[np.isneginf(m)] = 0  # exp(-inf - 0) = 0: such a row sums to 0 and stays 0
    s -= m
    np.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    if masked:
        total[total == 0] = 1
    s /= total
    return s


class SafeSoftmax(Function):
    """y = softmax(x) along the last axis, rows of -inf only giving 0 (PyTorch's
    ``_safe_softmax``);  dL/dx = y * (dL/dy - Σ_j dL/dy * y)"""

    op = "safe_softmax"

    @staticmethod
    def forward(ctx, x):
        y = _softmax_rows_(x.copy(), True)
        ctx.saved = (y,)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved
        return y * (grad_output - (grad_output * y).sum(axis=-1, keepdims=True))


class ScaledDotProductAttention(Function):
    """O = P̃ v,  P̃ = P * M (dropout's mask, or 1),  P = softmax(S),  S = scale · q kᵀ + B;
    dL/dv = P̃ᵀ g,  dL/dP = (g vᵀ) * M,  dL/dS = P * (dL/dP - Σ_j dL/dP * P),
    dL/dq = scale · dL/dS k,  dL/dk = scale · dL/dSᵀ q,  dL/dB = dL/dS   (g = dL/dO;
    shapes q (..., L, E), k (..., S, E), v (..., S, Ev), B broadcast to (..., L, S))"""

    op = "scaled_dot_product_attention"

    @staticmethod
    def forward(ctx, q, k, v, bias, keep, scale):
        out, p, pd = _attend(q, k, v, bias, keep, scale)
        ctx.saved = (q, k, v, p, pd, keep)  # p, pd: not inputs; create_graph uses the composite
        ctx.scale = scale
        return out

    @staticmethod
    def composite(ctx, q, k, v, bias, keep, scale):
        s = (q @ k.transpose(-2, -1)) * scale
        if bias is not None:
            s = s + bias
        p = SafeSoftmax.apply(s)
        if keep is not None:
            p = p * keep
        return p @ v

    @staticmethod
    def backward(ctx, grad_output):
        q, k, v, p, pd, keep = ctx.saved
        need = ctx.needs_input_grad
        grads = _attention_grads(grad_output, q, k, v, p, pd, keep, ctx.scale, need[:3],
                                 need[3])
        return grads + (None,)


class PackedSelfAttention(Function):
    """ScaledDotProductAttention of q, k, v = qkv[0], qkv[1], qkv[2], for self-attention with one
    in-projection: one input, so backward writes the three gradients into one array (instead of
    three zero-filled arrays of qkv's size, added up)."""

    op = "scaled_dot_product_attention"

    @staticmethod
    def forward(ctx, qkv, bias, keep, scale):
        out, p, pd = _attend(qkv[0], qkv[1], qkv[2], bias, keep, scale)
        ctx.saved = (qkv, p, pd, keep)
        ctx.scale = scale
        return out

    @staticmethod
    def composite(ctx, qkv, bias, keep, scale):
        return ScaledDotProductAttention.composite(ctx, qkv[0], qkv[1], qkv[2], bias, keep,
                                                   scale)

    @staticmethod
    def backward(ctx, grad_output):
        qkv, p, pd, keep = ctx.saved
        need = ctx.needs_input_grad
        grad = np.empty(qkv.shape, qkv.dtype) if need[0] else None
        (_, _, _, grad_s) = _attention_grads(grad_output, qkv[0], qkv[1], qkv[2], p, pd, keep,
                                             ctx.scale, (need[0],) * 3, need[1], grad)
        return grad, grad_s, None


def _attend(q, k, v, bias, keep, scale):
    """Forward of attention on arrays: (output, P, P̃)."""
    s = q @ _swap(k)
    s *= s.dtype.type(scale)
    if bias is not None:
        if np.broadcast_shapes(s.shape, bias.shape) == s.shape:
            s += bias
        else:  # (value's batch axes are wider than query's and key's)
            s = s + bias
    p = _softmax_rows_(s, bias is not None)
    pd = p if keep is None else p * keep
    return pd @ v, p, pd


def _attention_grads(g, q, k, v, p, pd, keep, scale, need_qkv, need_bias, out=None):
    """Backward of attention on arrays: the gradients of q, k, v and the bias (None where not
    needed); with ``out`` (3, ...), q's, k's and v's are written into out[0], out[1], out[2]."""
    need_q, need_k, need_v = need_qkv
    dq = dk = dv = ds = None
    if need_v:
        dv = np.matmul(_swap(pd), g, out=None if out is None else out[2])
    if need_q or need_k or need_bias:
        ds = g @ _swap(v)
        if pd is not p:
            ds *= keep
        ds -= (ds * p).sum(axis=-1, keepdims=True)
        ds *= p
        typed = ds.dtype.type(scale)
        if need_q:
            dq = np.matmul(ds, k, out=None if out is None else out[0])
            dq *= typed
        if need_k:
            dk = np.matmul(_swap(ds), q, out=None if out is None else out[1])
            dk *= typed
    return dq, dk, dv, (ds if need_bias else None)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False):
    """softmax(query keyᵀ · scale + mask) value, with PyTorch's signature and semantics.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch axes broadcast.
    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcast to
    (..., L, S); ``is_causal``: query i attends to keys 0..i (top-left aligned; no attn_mask
    then). ``scale`` defaults to 1/√E; ``dropout_p`` drops attention weights (applied whenever
    it is > 0, as PyTorch's: pass 0.0 in eval). ``enable_gqa``: key and value may have fewer
    heads (axis -3) than query, each serving query heads in turn (grouped-query attention).
    A query whose keys are all masked gets zeros."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got "
                            f"{type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError("Expected query, key, and value to all be  at least 2 dimensional, but "
                           f"got query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: "
                           f"{value.ndim} instead.")
    dtype = query.dtype
    if not (dtype == key.dtype == value.dtype):
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {_cpp(dtype)} key.dtype: {_cpp(key.dtype)} and "
                           f"value.dtype: {_cpp(value.dtype)} instead.")
    if dtype.kind != "f":
        raise RuntimeError(f"scaled_dot_product_attention: expected floating-point query, key and "
                           f"value, got {_cpp(dtype)}")
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    if key.shape[-1] != E or value.shape[-2] != S:
        raise RuntimeError(f"scaled_dot_product_attention: query {tuple(query.shape)}, key "
                           f"{tuple(key.shape)} and value {tuple(value.shape)} do not fit: "
                           "expected query (..., L, E), key (..., S, E), value (..., S, Ev)")
    if enable_gqa:
        key, value = _repeat_heads(query, key, "key"), _repeat_heads(query, value, "value")
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: the batch axes of query "
                           f"{tuple(query.shape)}, key {tuple(key.shape)} and value "
                           f"{tuple(value.shape)} do not broadcast") from None
    bias, keep = _bias_and_keep(attn_mask, dropout_p, is_causal, dtype, batch + (L, S))
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(query, key, value, bias, keep, scale=scale)


def _bias_and_keep(attn_mask, dropout_p, is_causal, dtype, scores_shape):
    """The additive bias of the masks (an array, or a float mask's Tensor) and dropout's mask of
    zeros and 1/(1-p) (an array; None without dropout)."""
    L, S = scores_shape[-2:]
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        bias = np.triu(np.full((L, S), -np.inf, dtype), 1)
    elif attn_mask is not None:
        bias = _mask_bias(attn_mask, dtype, scores_shape)
    keep = None
    if dropout_p > 0.0:
        if dropout_p > 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
        if dropout_p == 1.0:
            keep = np.zeros(scores_shape, dtype)
        else:
            draw = _rng(None).random(scores_shape,
                                     dtype=np.float64 if dtype == np.float64 else np.float32)
            keep = (draw < 1.0 - dropout_p) * np.asarray(1.0 / (1.0 - dropout_p), dtype)
    return bias, keep


def _mask_bias(attn_mask, dtype, scores_shape):
    """attn_mask as the additive bias: 0 / -inf from a bool mask (an array), a float mask (of
    the query's dtype or float32, as torch allows) cast to the scores' dtype (a Tensor stays in
    the graph)."""
    m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == np.bool_:
        bias = np.where(m, dtype.type(0), dtype.type(-np.inf))
    elif m.dtype in (dtype, np.float32):  # torch's rule: bool, "float" (float32) or the query's
        bias = attn_mask if isinstance(attn_mask, Tensor) else m
        if bias.dtype != dtype:
            bias = bias.to(dtype) if isinstance(bias, Tensor) else bias.astype(dtype)
    else:
        raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, "
                           f"but got attn_mask.dtype: {_cpp(m.dtype)} and  query.dtype: "
                           f"{_cpp(dtype)} instead.")
    try:
        fits = np.broadcast_shapes(m.shape, scores_shape) == tuple(scores_shape)
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} "
                           f"does not broadcast to the attention scores' shape "
                           f"{tuple(scores_shape)} (..., L, S)")
    return bias


def _repeat_heads(query, t, name):
    """key or value with each of its heads (axis -3) repeated for the query heads it serves
    (``repeat_interleave``), for grouped-query attention."""
    if query.ndim < 3 or t.ndim < 3:
        return t
    hq, hk = query.shape[-3], t.shape[-3]
    if hq == hk:
        return t
    if hq % hk:
        raise RuntimeError(f"Number of heads in key and value must divide the number of heads in "
                           f"query (enable_gqa=True: query has {hq} heads, {name} {hk})")
    shape = t.shape
    expanded = t.unsqueeze(-3).expand(*shape[:-2], hq // hk, *shape[-2:])
    return expanded.reshape(*shape[:-3], hq, *shape[-2:])


# -- multi-head attention: the functional form of nn.MultiheadAttention ----------------------------

def _canonical_mask(mask, name: str, dtype, other=None, other_name: str = ""):
    """PyTorch's ``F._canonical_mask``: a bool mask (True = masked out) as a float one of 0 and
    -inf; a float mask as it is; anything else raises."""
    if mask is None:
        return None
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None:
        o = other._data if isinstance(other, Tensor) else np.asarray(other)
        if o.dtype != m.dtype:
            import warnings
            warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use "
                          "same type for both instead.", stacklevel=4)
    if m.dtype == np.bool_:
        return _make(np.where(m, dtype.type(-np.inf), dtype.type(0)), None)
    return mask if isinstance(mask, Tensor) else _make(m, None)


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's checks of the inputs' dimensions; True for batched (3-D) inputs."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D"
                                 f" but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 2-D but found {key_padding_mask.ndim}-D tensor "
                                 "instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, "
                                 f"2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D"
                                 f" but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 1-D but found {key_padding_mask.ndim}-D tensor "
                                 "instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be "
                                     f"`None`, 2-D or 3-D but found {attn_mask.ndim}-D tensor "
                                     "instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{tuple(attn_mask.shape)}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.ndim}-D query tensor")


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v,
                                 add_zero_attn: bool, dropout_p: float, out_proj_weight,
                                 out_proj_bias, training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None,
                                 use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True,
                                 is_causal: bool = False, *, batch_first: bool = False):
    """PyTorch's ``F.multi_head_attention_forward``: query (L, N, E), key (S, N, Ek), value
    (S, N, Ev), or unbatched (L, E), (S, Ek), (S, Ev) -> (attention output (L, N, E), weights
    (N, L, S) averaged over heads, (N, H, L, S) with ``average_attn_weights=False``, or None
    without ``need_weights``). ``batch_first=True`` (chainrule's keyword) takes and returns
    (N, L, E) instead, without transposing: what ``nn.MultiheadAttention`` uses.

    Per head h: softmax(q_h k_hᵀ / √(E/H) + masks) v_h, q_h, k_h, v_h the h-th slices of the
    projected inputs; the heads' outputs side by side, times ``out_proj_weight``ᵀ.
    ``static_k`` / ``static_v`` (N·H, S', E/H) replace the projected keys / values."""
    from .nn import linear, dropout
    from .shape import cat
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    same = query is key, key is value
    if not is_batched or not batch_first:  # as (N, L, E): views, keeping the is-relations
        def layout(t):
            return t.unsqueeze(0) if not is_batched else t.transpose(0, 1)
        query = layout(query)
        key = query if same[0] else layout(key)
        value = key if same[1] else layout(value)
        if key_padding_mask is not None and not is_batched:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    bsz, tgt_len, embed_dim = query.shape
    src_len = key.shape[1]
    dtype = query.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dtype, attn_mask,
                                       "attn_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to create "
                           "this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint alone: SDPA's causal mask
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {_seq_first(key.shape[:2])} do "
                                 f"not match value's {_seq_first(value.shape[:2])}")
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {_seq_first(key.shape)} does not match value shape "
                             f"{_seq_first(value.shape)}")

    if attn_mask is not None:
        if attn_mask.dtype != dtype:
            attn_mask = attn_mask.to(dtype)
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {_size(attn_mask.shape)}, "
                                   f"but should be {(tgt_len, src_len)}.")
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {_size(attn_mask.shape)}, "
                                   f"but should be {(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if key_padding_mask is not None and key_padding_mask.dtype != dtype:
        key_padding_mask = key_padding_mask.to(dtype)

    def heads(t, n):  # (N, n, E) -> (N, H, n, hd)
        return t.reshape(bsz, n, num_heads, head_dim).transpose(1, 2)

    # -- in-projection: one matmul for q, k and v in self-attention --
    packed_self = (not use_separate_proj_weight and same[0] and same[1] and bias_k is None
                   and not add_zero_attn and static_k is None and static_v is None)
    if packed_self:
        qkv = linear(query, in_proj_weight, in_proj_bias)
        qkv = qkv.reshape(bsz, tgt_len, 3, num_heads, head_dim).permute(2, 0, 3, 1, 4)
        if need_weights:
            q, k, v = qkv[0], qkv[1], qkv[2]
    else:
        b = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
        if use_separate_proj_weight:
            w = q_proj_weight, k_proj_weight, v_proj_weight
        else:
            w = in_proj_weight.chunk(3)
        q = linear(query, w[0], b[0])
        if same[1] and not use_separate_proj_weight:  # encoder-decoder: one matmul for k, v
            kv = linear(key, in_proj_weight[embed_dim:],
                        None if in_proj_bias is None else in_proj_bias[embed_dim:])
            k, v = kv[..., :embed_dim], kv[..., embed_dim:]
        else:
            k, v = linear(key, w[1], b[1]), linear(value, w[2], b[2])
        if bias_k is not None and bias_v is not None:
            k = cat([k, bias_k.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
            v = cat([v, bias_v.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
            if static_k is not None or static_v is not None:
                raise AssertionError("bias cannot be added to static key or value")
        elif bias_k is not None or bias_v is not None:
            raise AssertionError("bias_k and bias_v must both be given, or neither")
        q = heads(q, tgt_len)
        k = heads(k, k.shape[1]) if static_k is None else _static(static_k, "static_k", bsz,
                                                                    num_heads, head_dim)
        v = heads(v, v.shape[1]) if static_v is None else _static(static_v, "static_v", bsz,
                                                                    num_heads, head_dim)
        if add_zero_attn:
            k = cat([k, _make(np.zeros(k.shape[:2] + (1, head_dim), dtype), None)], 2)
            v = cat([v, _make(np.zeros(v.shape[:2] + (1, head_dim), dtype), None)], 2)
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        src_len = k.shape[2]

    # -- masks: one additive bias broadcast to (N, H, L, S) --
    bias = None
    if attn_mask is not None:
        bias = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(bsz, num_heads, tgt_len,
                                                                       src_len)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                                 f"{_size(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len)
        bias = kpm if bias is None else bias + kpm
    if not training:
        dropout_p = 0.0

    # -- attention --
    weights = None
    if need_weights:  # the weights written out, as PyTorch: a row masked everywhere gives NaN
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
        if bias is not None:
            scores = scores + bias
        with np.errstate(invalid="ignore"):  # (-inf - -inf: NaN, as PyTorch's, unwarned)
            weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights @ v
    elif packed_self:
        b, keep = _bias_and_keep(bias, dropout_p, is_causal and bias is None, dtype,
                                 (bsz, num_heads, tgt_len, src_len))
        out = PackedSelfAttention.apply(qkv, b, keep, scale=1.0 / math.sqrt(head_dim))
    else:
        out = scaled_dot_product_attention(q, k, v, bias, dropout_p, is_causal and bias is None)
    # heads side by side: (N, H, L, hd) -> (N, L, E) or (L, N, E), then the out-projection
    if batch_first or not is_batched:
        out = out.transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
    else:
        out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias)
    if not is_batched:
        out = out.squeeze(0)
    if weights is not None:
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            weights = weights.squeeze(0)
    return out, weights


def _static(t, name, bsz, num_heads, head_dim):
    """A static key or value (N·H, S, head_dim) as (N, H, S, head_dim)."""
    if t.shape[0] != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got "
                             f"{t.shape[0]}")
    if t.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {t.shape[2]}")
    return t.reshape(bsz, num_heads, t.shape[1], head_dim)


def _pad_last(mask):
    """A float mask with one more key, at 0 (attended): for bias_k and add_zero_attn."""
    from .shape import pad
    return None if mask is None else pad(mask, (0, 1))


def _size(shape):
    return f"torch.Size({list(shape)})"


def _seq_first(shape):
    """A (N, S, ...) shape as PyTorch reports it, (S, N, ...)."""
    shape = tuple(shape)
    return _size((shape[1], shape[0]) + shape[2:])
