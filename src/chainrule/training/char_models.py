"""The two character-level language models ``chainrule train --model char-lstm|char-transformer``
knows. Each maps token indices (B, T) to next-token logits (B, T, vocab_size); the position t
sees tokens 0..t only. ``benchmarks/charlm_torch.py`` holds their PyTorch twins, with the same
parameter names."""

from __future__ import annotations

import numpy as np

from .. import nn
from ..creation import from_numpy


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> Linear: 27 -> 64 -> 256 -> 27 by default (about 350k weights)."""

    def __init__(self, vocab_size: int = 27, embedding_dim: int = 64, hidden_size: int = 256,
                 num_layers: int = 1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx):
        out, _ = self.lstm(self.embedding(idx))
        return self.head(out)


class CharTransformer(nn.Module):
    """Token + position embeddings -> causal pre-norm TransformerEncoder -> LayerNorm -> Linear
    (minGPT's shape): 2 layers, d_model 128, 4 heads, feed-forward 512, GELU, no dropout by
    default (about 410k weights). Sequences are at most ``block_size`` tokens."""

    def __init__(self, vocab_size: int = 27, block_size: int = 32, d_model: int = 128,
                 nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 512,
                 dropout: float = 0.0):
        super().__init__()
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(block_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"CharTransformer: a sequence of {t} tokens is longer than its "
                             f"block_size {self.block_size}")
        x = self.token(idx) + self.position(from_numpy(np.arange(t)))
        mask = nn.Transformer.generate_square_subsequent_mask(t, dtype=x.dtype)
        return self.head(self.norm(self.encoder(x, mask=mask, is_causal=True)))


CHAR_MODELS = {"char-lstm": CharLSTM, "char-transformer": CharTransformer}


def build_char_model(name: str) -> nn.Module:
    if name not in CHAR_MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(CHAR_MODELS)}")
    return CHAR_MODELS[name]()
