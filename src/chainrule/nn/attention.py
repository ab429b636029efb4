"""``MultiheadAttention``: attention of a query sequence to a key/value sequence, in several heads
(PyTorch keeps it in ``nn.modules.activation``; it has a file of its own here)."""

from __future__ import annotations

import numpy as np

from ..ops.attention import multi_head_attention_forward
from . import init
from .linear import Linear, _factory
from .module import Module
from .parameter import Parameter


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for MultiheadAttention's ``out_proj``: a ``Linear``."""


class MultiheadAttention(Module):
    """Multi-head attention, as PyTorch's ``nn.MultiheadAttention``::

        head_i = softmax(Q W_qᵢᵀ (K W_kᵢᵀ)ᵀ / √(E/H) + masks) V W_vᵢᵀ
        output = [head_1, ..., head_H] W_oᵀ + b_o

    Inputs (L, N, E) query, (S, N, kdim) key, (S, N, vdim) value; (N, L, E) ... with
    ``batch_first``; (L, E) ... unbatched. Parameters by PyTorch's names: ``in_proj_weight``
    (3E, E) and ``in_proj_bias`` (3E,) (``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``
    when kdim or vdim differ from E), ``out_proj.weight`` and ``out_proj.bias``, and with
    ``add_bias_kv`` ``bias_k`` and ``bias_v`` (1, 1, E), appended to the keys and values;
    ``add_zero_attn`` appends a key and value of zeros. ``dropout`` drops attention weights in
    training.

    ``forward`` returns (output, weights): output like the query; weights (N, L, S) averaged
    over heads, (N, H, L, S) with ``average_attn_weights=False``, None with
    ``need_weights=False`` (faster: one fused attention node). Masks: ``key_padding_mask``
    (N, S) and ``attn_mask`` (L, S) or (N·H, L, S), bool (True = may NOT attend) or float
    (added to the scores)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None,
                 dtype=None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        dt = _factory(device, dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")

        def param(*shape):
            return Parameter(np.empty(shape, dt))

        if not self._qkv_same_embed_dim:
            self.q_proj_weight = param(embed_dim, embed_dim)
            self.k_proj_weight = param(embed_dim, self.kdim)
            self.v_proj_weight = param(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = param(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        dtype=dt)
        if add_bias_kv:
            self.bias_k = param(1, 1, embed_dim)
            self.bias_v = param(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases, Xavier-normal bias_k and bias_v (PyTorch's)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        separate = not self._qkv_same_embed_dim
        return multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=separate, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            batch_first=self.batch_first)
